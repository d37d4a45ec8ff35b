import Testing
import ZKConfig

@Suite struct StagedMembershipTests {
    static let config = DynamicConfig(servers: [
        .init(id: 1, role: .participant, value: "zk-0.zk-hs:2888:3888:participant;0.0.0.0:2181"),
        .init(id: 3, role: .observer, value: "zk-2.zk-hs:2888:3888:observer;0.0.0.0:2181"),
    ], version: 0x2_0000_0004)

    @Test func theTextReadsBackAsTheSameMembership() throws {
        let staged = StagedMembership(config: Self.config, joinTemplate: "zk-{ordinal}.zk-hs:2888:3888:participant;2181",
                                      left: [5: 0x2_0000_0002, 4: 0x1_0000_0009])
        #expect(try StagedMembership.parse(staged.text) == staged)
        #expect(staged.text.hasSuffix("\nleft.4=100000009\nleft.5=200000002\n"))
        // What /zookeeper/config shows: the same text parses as the configuration itself.
        #expect(try DynamicConfig.parse(staged.text) == Self.config)
    }

    /// Listed members get the membership as it is, under its version (observers too); others
    /// are added as participants from the template, as version 0.
    @Test func whatAMemberStartsWith() {
        let staged = StagedMembership(config: Self.config, joinTemplate: "zk-{ordinal}.zk-hs:2888:3888:participant;2181")
        let listed = staged.start(ordinal: 2)
        #expect(listed.listed && listed.version == 0x2_0000_0004 && listed.servers == Self.config.servers)
        let joining = staged.start(ordinal: 1)
        #expect(!joining.listed && joining.version == 0)
        #expect(joining.servers.map(\.id) == [1, 2, 3])
        #expect(joining.servers[1] == .init(id: 2, role: .participant, value: "zk-1.zk-hs:2888:3888:participant;2181"))
        let byID = StagedMembership(config: Self.config, joinTemplate: "127.9.9.{id}:2888:3888:participant;127.9.9.{id}:2181")
        #expect(byID.start(ordinal: 4).servers.last?.value == "127.9.9.5:2888:3888:participant;127.9.9.5:2181")
    }

    @Test func dynamicFilesAreNamedByVersionAndHoldOnlyServers() {
        #expect(StagedMembership.dynamicFileName(version: 0) == "zoo.cfg.dynamic.0")
        #expect(StagedMembership.dynamicFileName(version: 0x1_0000_000a) == "zoo.cfg.dynamic.10000000a")
        #expect(StagedMembership.dynamicFileText(Self.config.servers.reversed())
            == "server.1=zk-0.zk-hs:2888:3888:participant;0.0.0.0:2181\nserver.3=zk-2.zk-hs:2888:3888:observer;0.0.0.0:2181\n")
    }
}
