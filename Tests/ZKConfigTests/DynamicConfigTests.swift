import Testing
import ZKConfig

@Suite struct DynamicConfigTests {
    @Test func parsesWhatZooKeeperPrints() throws {
        let config = try DynamicConfig.parse("""
            server.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181
            server.3=zk-2.zk-hs.default.svc.cluster.local:2888:3888:observer;2181
            server.2=zk-1.zk-hs.default.svc.cluster.local:2888:3888;2181
            version=10000000b
            """)
        #expect(config.version == 0x1_0000_000b)
        #expect(config.versionText == "0x10000000b")
        #expect(config.servers.map(\.id) == [1, 2, 3])
        #expect(config.participantOrdinals == [0, 1])
        #expect(config.observerOrdinals == [2])
        #expect(config.server(ordinal: 0)?.value == "zk-0.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181")
        #expect(config.server(ordinal: 5) == nil)
    }

    @Test func readsBackTheServerLinesWeRender() throws {
        let members = [
            ZooKeeperMember(id: 1, host: "127.0.0.1", clientAddress: "127.0.0.1"),
            ZooKeeperMember(id: 2, host: "[::1]", quorumPort: 2889, electionPort: 3889, clientPort: 2182),
            ZooKeeperMember(id: 7, host: "zk-6.zk-hs", role: .observer),
        ]
        let text = members.map { "server.\($0.id)=\($0.serverValue)" }.joined(separator: "\n") + "\nversion=0\n"
        let config = try DynamicConfig.parse(text)
        #expect(config.servers.map(\.id) == [1, 2, 7])
        #expect(config.servers.map(\.role) == [.participant, .participant, .observer])
        #expect(config.servers.map(\.value) == members.map(\.serverValue))
    }

    @Test func withoutAVersionLineTheVersionIsZero() throws {
        let config = try DynamicConfig.parse("server.1=127.0.0.1:2888:3888:participant;2181\n# comment\nsomeFutureKey=1\n")
        #expect(config.version == 0)
        #expect(config.participantOrdinals == [0])
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var text: String
        var error: String
        var testDescription: String { error }
    }

    @Test(arguments: [
        Malformed(text: "server.x=h:1:2;3", error: "/zookeeper/config line 1: 'server.x' has no positive numeric server id"),
        Malformed(text: "server.0=h:1:2;3", error: "/zookeeper/config line 1: 'server.0' has no positive numeric server id"),
        Malformed(text: "version=1\nserver.1=h:abc:3888;2181", error: "/zookeeper/config line 2: server.1='h:abc:3888;2181' is not host:quorumPort:electionPort[:role][;client]"),
        Malformed(text: "server.1=h:2888:3888:leader;2181", error: "/zookeeper/config line 1: server.1='h:2888:3888:leader;2181' is not host:quorumPort:electionPort[:role][;client]"),
        Malformed(text: "server.1=[::1:2888:3888;2181", error: "/zookeeper/config line 1: server.1='[::1:2888:3888;2181' is not host:quorumPort:electionPort[:role][;client]"),
        Malformed(text: "server.1=:2888:3888;2181", error: "/zookeeper/config line 1: server.1=':2888:3888;2181' is not host:quorumPort:electionPort[:role][;client]"),
        Malformed(text: "server.1=h:1:2;3\nserver.1=h:1:2;3", error: "/zookeeper/config line 2: server.1 is listed twice"),
        Malformed(text: "version=zz", error: "/zookeeper/config line 1: version 'zz' is not hexadecimal"),
    ])
    func malformedLinesAreErrorsThatNameTheLine(_ c: Malformed) {
        #expect(throws: DynamicConfigError.self) { try DynamicConfig.parse(c.text) }
        do {
            _ = try DynamicConfig.parse(c.text)
        } catch {
            #expect(error.description == c.error)
        }
    }
}
