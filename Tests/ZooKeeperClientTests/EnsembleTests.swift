import Foundation
import NetCore
import Testing
@testable import ZooKeeperClient
import ZooKeeperTestSupport

private func unique(_ prefix: String) -> String { "/\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

private func options(session: Double = 10, request: Double = 15) -> ZooKeeperClient.Options {
    var options = ZooKeeperClient.Options()
    options.sessionTimeout = session
    options.requestTimeout = request
    options.connectTimeout = 20
    return options
}

/// An ensemble where "super" (password ensemble-test) is the superuser. reconfig needs ACL
/// rights on /zookeeper/config (world:anyone has read only); this grants them rather than
/// -Dzookeeper.skipACL=yes, which would switch ACLs off for everything. The value is
/// base64(sha1("super:ensemble-test")), ZooKeeper's digest format.
private func startEnsembleWithSuperuser() async throws -> ZooKeeperTestEnsemble {
    try await ZooKeeperTestEnsemble.start(extraJVMOptions: [
        "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:sr6qs+XCucCzJXiVIgYSCVOR7aY=",
    ])
}

/// A follower to remove: removing the leader works too, but makes it step down and drop
/// every connection mid-call, which is a different test.
private func followerToRemove(_ ensemble: ZooKeeperTestEnsemble) throws -> Int {
    let leader = try #require(ensemble.leaderID())
    return try #require([3, 2, 1].first { $0 != leader })
}

/// Against real ZooKeeper 3.8 ensembles, each on its own loopback block. Serialized: every
/// test starts three JVMs, and the machine has two cores.
@Suite("Client against a real ensemble", .serialized)
struct EnsembleTests {
    @Test func everyOperation() async throws {
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        let client = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options())
        let other = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints.reversed(), options: options())
        #expect(client.sessionID != 0)
        #expect(client.negotiatedSessionTimeout == 10_000)

        let root = unique("ops")
        #expect(try await client.create(root, data: Array("root".utf8)) == root)
        let (data, stat) = try await client.getData(root)
        #expect(data == Array("root".utf8))
        #expect(stat.version == 0 && stat.ephemeralOwner == 0 && stat.dataLength == 4)
        #expect(try await client.exists(root) == stat)
        #expect(try await client.exists(root + "/missing") == nil)

        #expect(try await client.create(root + "/p", mode: .persistent) == root + "/p")
        #expect(try await client.create(root + "/e", mode: .ephemeral) == root + "/e")
        let seq = try await client.create(root + "/s-", mode: .persistentSequential)
        let eseq = try await client.create(root + "/es-", mode: .ephemeralSequential)
        #expect(seq.hasPrefix(root + "/s-") && seq.count == (root + "/s-").count + 10)
        #expect(eseq.hasPrefix(root + "/es-") && eseq != seq)
        #expect(try await client.getData(root + "/e").stat.ephemeralOwner == client.sessionID)
        #expect(Set(try await client.getChildren(root)) == ["p", "e", String(seq.split(separator: "/").last!), String(eseq.split(separator: "/").last!)])

        // Versions: a stale version is BadVersion, for set and for delete.
        let updated = try await client.setData(root + "/p", data: [1, 2, 3], version: 0)
        #expect(updated.version == 1)
        await #expect(throws: ZooKeeperError.badVersion) { try await client.setData(root + "/p", data: [4], version: 0) }
        await #expect(throws: ZooKeeperError.badVersion) { try await client.delete(root + "/p", version: 0) }
        #expect(try await client.getData(root + "/p").data == [1, 2, 3])
        try await client.delete(root + "/p", version: 1)
        #expect(try await client.exists(root + "/p") == nil)

        await #expect(throws: ZooKeeperError.nodeExists) { try await client.create(root) }
        await #expect(throws: ZooKeeperError.noNode) { _ = try await client.getData(root + "/p") }
        await #expect(throws: ZooKeeperError.noNode) { try await client.create(root + "/no/parent") }
        await #expect(throws: ZooKeeperError.notEmpty) { try await client.delete(root) }
        await #expect(throws: ZooKeeperError.noChildrenForEphemerals) { try await client.create(root + "/e/child") }

        // Another session through another member sees the writes after sync.
        try await other.sync(root)
        #expect(try await other.getData(root + "/s-" + seq.suffix(10)).stat.version == 0)

        // A watch fires once when another session changes the node.
        _ = try await client.getData(root, watch: true)
        try await other.setData(root, data: [9])
        var iterator = client.events.makeAsyncIterator()
        var fired: WatchEvent?
        while let event = await iterator.next() {
            if event.kind == .nodeDataChanged { fired = event; break }
        }
        #expect(fired == WatchEvent(kind: .nodeDataChanged, state: KeeperState.syncConnected, path: root))

        // Digest auth: a node only `alice` may read.
        try await client.addDigestAuth(user: "alice", password: "pw")
        let aliceOnly = [ACL(permissions: .all, scheme: "auth", id: "")]
        try await client.create(root + "/secret", data: [7], acl: aliceOnly)
        #expect(try await client.getData(root + "/secret").data == [7])
        await #expect(throws: ZooKeeperError.noAuth) { _ = try await other.getData(root + "/secret") }
        try await other.addDigestAuth(user: "alice", password: "pw")
        #expect(try await other.getData(root + "/secret").data == [7])

        // Large data near the server's 1 MiB jute.maxbuffer round-trips.
        let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await client.create(root + "/big", data: big)
        #expect(try await other.getData(root + "/big").data == big)

        let (config, _) = try await client.getConfig()
        #expect(config.servers.map(\.id) == [1, 2, 3])
        #expect(config.version > 0)

        // Clean up (the ephemerals go with the session).
        for child in try await client.getChildren(root) where !child.hasPrefix("e") {
            try await client.delete(root + "/" + child)
        }
        await client.close()
        try await other.sync(root)
        #expect(try await other.getChildren(root).isEmpty)
        try await other.delete(root)
        await other.close()
        #expect(client.state == .closed)
        await #expect(throws: ZooKeeperError.closed) { _ = try await client.exists("/") }
    }

    @Test func ephemeralGoesWithItsSessionAndSessionsExpire() async throws {
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        let observer = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options())

        // Closing a session removes its ephemeral nodes at once.
        let owner = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options())
        let path = unique("eph")
        try await owner.create(path, mode: .ephemeral)
        try await observer.sync(path)
        #expect(try await observer.exists(path)?.ephemeralOwner == owner.sessionID)
        await owner.close()
        try await observer.sync(path)
        #expect(try await observer.exists(path) == nil)

        // Expiry, made deterministic: a second client resumes the victim's session with its
        // id and password and closes it; the victim then learns the session is gone.
        let victim = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options())
        let victimPath = unique("victim")
        try await victim.create(victimPath, mode: .ephemeral)
        var resume = options()
        resume.session = victim.credentials
        let killer = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints.reversed(), options: resume)
        #expect(killer.sessionID == victim.sessionID)
        await killer.close()
        #expect(try await eventually(30) { victim.state == .expired })
        await #expect(throws: ZooKeeperError.sessionExpired) { _ = try await victim.exists("/") }
        try await observer.sync(victimPath)
        #expect(try await observer.exists(victimPath) == nil)

        // Resuming an expired session is refused with a typed error.
        await #expect(throws: ZooKeeperError.sessionExpired) {
            _ = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: resume)
        }
        await observer.close()
    }

    @Test func failoverKeepsTheSession() async throws {
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        let client = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options(session: 15))
        let path = unique("failover")
        try await client.create(path, data: [1], mode: .ephemeral)
        let session = client.sessionID
        let first = try #require(client.connectedMember)
        let firstID = try #require(ensemble.clientEndpoints.firstIndex(of: first)) + 1

        try ensemble.stopMember(firstID)
        #expect(try await eventually(30) {
            if let now = client.connectedMember, now != first { return true }
            return false
        })
        #expect(client.sessionID == session)
        // The ephemeral node survived: same session, now through another member.
        let (data, stat) = try await client.getData(path)
        #expect(data == [1] && stat.ephemeralOwner == session)
        try await client.setData(path, data: [2])
        #expect(try await client.getData(path).data == [2])
        await client.close()
    }

    @Test func reconfigRemoveThenAddConditionalOnVersion() async throws {
        let ensemble = try await startEnsembleWithSuperuser()
        defer { ensemble.stop() }
        let victim = try followerToRemove(ensemble)
        let stayers = (1...3).filter { $0 != victim }
        let client = try await ZooKeeperClient.connect(members: stayers.map { ensemble.clientEndpoints[$0 - 1] }, options: options())
        try await client.sync("/zookeeper/config")
        let (before, _) = try await client.getConfig()
        #expect(before.servers.map(\.id) == [1, 2, 3])
        let leaving = try #require(before.servers.first { $0.id == victim })

        await #expect(throws: ZooKeeperError.noAuth) { try await client.reconfig(leaving: [victim], fromConfig: before.version) }
        try await client.addDigestAuth(user: "super", password: "ensemble-test")

        let removed = try await client.reconfig(leaving: [victim], fromConfig: before.version)
        #expect(removed.servers.map(\.id) == stayers)
        #expect(removed.version > before.version)
        await #expect(throws: ZooKeeperError.badVersion) {
            try await client.reconfig(joining: [leaving.line], fromConfig: before.version)
        }
        try await client.sync("/zookeeper/config")
        #expect(try await client.getConfig().config == removed)

        let added = try await client.reconfig(joining: [leaving.line], fromConfig: removed.version)
        #expect(added.servers.map(\.id) == [1, 2, 3])
        #expect(added.version > removed.version)
        #expect(added.servers.first { $0.id == victim } == leaving)
        await client.close()
    }
}

/// Records a client's events as they arrive, for tests that wait for several of them.
final class EventRecorder: Sendable {
    private let events = Shared<[WatchEvent]>([])
    private let task: Task<Void, Never>

    init(_ client: ZooKeeperClient) {
        let events = self.events
        // Ends when the client's stream finishes (close or expiry).
        task = Task { for await event in client.events { events.update { $0.append(event) } } }
    }

    var all: [WatchEvent] { events.value }

    func contains(_ kind: WatchEvent.Kind, _ path: String) -> Bool {
        all.contains { $0.kind == kind && $0.path == path }
    }

    var sessionStates: [Int32] { all.filter { $0.kind == .none }.map(\.state) }
}

@Suite("Client failover on a real ensemble", .serialized, .timeLimit(.minutes(3)))
struct FailoverTests {
    @Test func watchesAreReArmedOnAnotherMemberAndAQuorumOutageKeepsTheSession() async throws {
        let ensemble = try await ZooKeeperTestEnsemble.start()
        defer { ensemble.stop() }
        // The client reaches each member through a proxy, so the test decides when it may
        // reconnect; the observer talks to the members directly.
        let proxies = try ensemble.clientEndpoints.map { try FaultProxy(upstream: $0) }
        defer { for proxy in proxies { proxy.stop() } }
        let observer = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints.reversed(), options: options(session: 20))
        let client = try await ZooKeeperClient.connect(members: proxies.map(\.endpoint), options: options(session: 4, request: 20))
        let recorder = EventRecorder(client)
        let session = client.sessionID
        let first = try #require(proxies.firstIndex { $0.endpoint == client.connectedMember })

        let base = unique("rearm")
        try await client.create(base)
        for child in ["data", "quiet", "kids"] { try await client.create("\(base)/\(child)", data: [0]) }
        try await client.create("\(base)/mine", mode: .ephemeral)
        _ = try await client.getData("\(base)/data", watch: true)
        _ = try await client.getData("\(base)/quiet", watch: true)
        _ = try await client.getChildren("\(base)/kids", watch: true)
        #expect(try await client.exists("\(base)/new", watch: true) == nil)

        // The member the client is connected to stops; the others may not be reached yet.
        for (index, proxy) in proxies.enumerated() where index != first { proxy.mode = .refuse }
        try ensemble.stopMember(first + 1)
        #expect(try await eventually(20) { client.state == .connecting })
        // Changes while the client is disconnected (two members still form a quorum).
        try await observer.setData("\(base)/data", data: [1])
        try await observer.create("\(base)/new")
        try await observer.create("\(base)/kids/k")
        for proxy in proxies { proxy.mode = .forward }

        // On the new member the watches are re-armed relative to the last zxid the client
        // saw, so the changes it missed fire at once.
        #expect(try await eventually(30) {
            recorder.contains(.nodeDataChanged, "\(base)/data") && recorder.contains(.nodeCreated, "\(base)/new")
                && recorder.contains(.nodeChildrenChanged, "\(base)/kids")
        }, "events after the failover: \(recorder.all)")
        let second = try #require(proxies.firstIndex { $0.endpoint == client.connectedMember })
        #expect(second != first)
        // A watch whose node did not change is armed again, not lost.
        #expect(!recorder.contains(.nodeDataChanged, "\(base)/quiet"))
        try await observer.setData("\(base)/quiet", data: [1])
        #expect(try await eventually(20) { recorder.contains(.nodeDataChanged, "\(base)/quiet") }, "events: \(recorder.all)")

        // Quorum outage: with the client's member stopped too, one member is left, which
        // serves nobody. Nothing expires sessions without a quorum, so the client must keep
        // its 4 s session however long the outage lasts (here over twice the timeout).
        try ensemble.stopMember(second + 1)
        let outage = Deadline.now
        while seconds(since: outage) < 9 && client.state != .expired {
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(client.state == .connecting, "after \(seconds(since: outage)) s of outage")
        try ensemble.startMember(first + 1)
        try ensemble.startMember(second + 1)
        try await ensemble.waitForQuorum()
        #expect(try await eventually(60) { client.connectedMember != nil }, "session events: \(recorder.sessionStates)")
        #expect(client.sessionID == session)
        #expect(try await client.exists("\(base)/mine")?.ephemeralOwner == session)
        #expect(!recorder.sessionStates.contains(KeeperState.expired), "session events: \(recorder.sessionStates)")
        await client.close()
        await observer.close()
    }

    @Test func reconfigWhoseReplyIsCutIsOutcomeUnknownAndARereadTells() async throws {
        let ensemble = try await startEnsembleWithSuperuser()
        defer { ensemble.stop() }
        let victim = try followerToRemove(ensemble)
        let stayer = try #require([1, 2, 3].first { $0 != victim })
        let proxy = try FaultProxy(upstream: ensemble.clientEndpoints[stayer - 1])
        defer { proxy.stop() }
        let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options())
        try await client.addDigestAuth(user: "super", password: "ensemble-test")
        try await client.sync("/zookeeper/config")
        let (before, _) = try await client.getConfig()

        // The member applies the reconfig and dies in the middle of the reply.
        proxy.cutNextReply()
        let error = await #expect(throws: ZooKeeperError.self) {
            try await client.reconfig(leaving: [victim], fromConfig: before.version)
        }
        #expect(error == .connectionLoss && error?.mayHaveBeenApplied == true, "got \(String(describing: error))")
        // The caller re-reads (the client has reconnected on its own) and learns it happened.
        try await client.sync("/zookeeper/config")
        let (after, _) = try await client.getConfig()
        #expect(after.version > before.version)
        #expect(!after.servers.contains { $0.id == victim })
        // Retrying blindly with the old version would be refused, certainly not applied.
        let retry = await #expect(throws: ZooKeeperError.badVersion) {
            try await client.reconfig(leaving: [victim], fromConfig: before.version)
        }
        #expect(retry?.mayHaveBeenApplied == false)
        await client.close()
    }
}
