import Foundation
import NetCore
import Testing
@testable import ZooKeeperClient
import ZooKeeperTestSupport
import ZKConfig

private func unique(_ prefix: String) -> String { "/\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

/// Sessions from 2 s, expired by the server within a second of their timeout; no fsync, so
/// the soak measures the client rather than the disk.
private var quickSettings: ZooKeeperSettings {
    var settings = ZooKeeperSettings()
    settings.tickTime = 1000
    settings.minSessionTimeout = 2000
    settings.overrides = [(key: "forceSync", value: "no")]
    return settings
}

private func options(session: Double = 10, request: Double = 10, attempt: Double = 3) -> ZooKeeperClient.Options {
    var options = ZooKeeperClient.Options()
    options.sessionTimeout = session
    options.requestTimeout = request
    options.attemptTimeout = attempt
    options.connectTimeout = 20
    return options
}

/// Slack on top of a configured timeout before a wait counts as not bounded by it: generous,
/// for a loaded 2-core machine, and still far below what the fixed bugs took.
private let margin = 15.0

/// A one-member ensemble with a fault proxy in front of it; both stopped afterwards.
private func withProxiedMember(_ body: (ZooKeeperTestEnsemble, FaultProxy) async throws -> Void) async throws {
    let ensemble = try await ZooKeeperTestEnsemble.start(members: 1, settings: quickSettings)
    defer { ensemble.stop() }
    let proxy = try FaultProxy(upstream: ensemble.clientEndpoints[0])
    defer { proxy.stop() }
    try await body(ensemble, proxy)
}

/// While `client` cannot reconnect: `call` (made with a 0.5 s request timeout) fails as
/// not sent within its deadline, and `close()` returns at once, not after the attempt.
private func expectDeadlinesHold(_ client: ZooKeeperClient, operation: String, _ call: () async throws -> Void) async {
    let start = Deadline.now
    await #expect(throws: ZooKeeperError.timedOut(operation: operation, sent: false)) { try await call() }
    #expect(seconds(since: start) < 0.5 + margin, "a 0.5 s request took \(seconds(since: start)) s")
    let closing = Deadline.now
    await client.close()
    #expect(seconds(since: closing) < margin, "close() took \(seconds(since: closing)) s")
    #expect(client.state == .closed)
}

/// The soak's node n`i` holds this: a different length and content for each node.
private func soakValue(_ i: Int) -> [UInt8] { Array("value-\(i)-\(String(repeating: "x", count: i))".utf8) }

/// Entries in a /proc/self directory: open descriptors ("fd") or threads ("task").
private func procEntries(_ name: String) throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/self/\(name)").count
}

/// The client through a fault proxy in front of real ZooKeeper: every failure the proxy can
/// inject, and a soak. Serialized: each test starts a JVM, and the soak counts this
/// process's threads and descriptors (so other suites must not run beside it: the project
/// runs tests with --no-parallel).
@Suite("Client under injected faults", .serialized, .timeLimit(.minutes(3)))
struct FailureTests {
    @Test func clientReleasedDuringAReconnectLetsItsSessionExpire() async throws {
        try await withProxiedMember { ensemble, proxy in
            let observer = try await ZooKeeperClient.connect(members: ensemble.clientEndpoints, options: options())
            let path = unique("released")
            var client: ZooKeeperClient? = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options(session: 4))
            try await client!.create(path, mode: .ephemeral)
            // The connection dies; the client reconnects at once, and the proxy holds the
            // handshake reply, so the client is released in the middle of the handshake.
            proxy.stallReplies = true
            proxy.dropConnections()
            #expect(try await eventually(10) { proxy.acceptedConnections == 2 })
            client = nil
            proxy.stallReplies = false
            // Nothing may bring the session back: the server expires it and its ephemeral
            // node goes. (Before the fix the released client reconnected every 2.7 s forever.)
            #expect(try await eventually(4 + margin) { try await observer.exists(path) == nil },
                    "the ephemeral node of a released client outlived its 4 s session")
            #expect(proxy.acceptedConnections == 2, "the released client reconnected")
            await observer.close()
        }
    }

    @Test func deadlinesHoldWhileAConnectAttemptBlocks() async throws {
        try await withProxiedMember { ensemble, proxy in
            // A member that accepts TCP and never answers holds a connect attempt for the whole
            // attempt timeout (40 s); the caller's 0.5 s and close() must not wait for it.
            let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options(session: 30, request: 0.5, attempt: 40))
            proxy.mode = .blackhole
            proxy.dropConnections()
            #expect(try await eventually(10) { proxy.acceptedConnections == 2 && client.state == .connecting })
            await expectDeadlinesHold(client, operation: "get /") { _ = try await client.getData("/") }
        }
    }

    @Test func deadlinesHoldWhileNameResolutionHangs() async throws {
        try await withProxiedMember { ensemble, proxy in
            // The member's name resolves once, then the name service stops answering.
            let answered = Shared(false)
            let gate = DispatchSemaphore(value: 0)
            let resolver = NameResolver(maximumPendingLookups: 4) { _, port in
                if answered.update({ done in defer { done = true }; return !done }) {
                    return NameResolver.getaddrinfoLookup("127.0.0.1", port)
                }
                gate.wait()
                return .failure(.resolve(host: "zk.test", reason: "released by the test"))
            }
            defer { for _ in 0..<resolver.maximumPendingLookups { gate.signal() } }
            var slow = options(session: 30, request: 0.5, attempt: 40)
            slow.resolver = resolver
            let client = try await ZooKeeperClient.connect(members: ["zk.test:\(proxy.port)"], options: slow)
            proxy.dropConnections()
            #expect(try await eventually(10) { resolver.pendingLookups == 1 })
            await expectDeadlinesHold(client, operation: "ls /") { _ = try await client.getChildren("/") }
        }
    }

    @Test func replyCutInTheMiddleIsAConnectionLossWhoseWriteMayHaveHappened() async throws {
        try await withProxiedMember { ensemble, proxy in
            let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options())
            let path = unique("cut")
            try await client.create(path, data: Array("old".utf8))
            let session = client.sessionID
            proxy.cutNextReply()
            let error = await #expect(throws: ZooKeeperError.self) { try await client.setData(path, data: Array("new".utf8)) }
            #expect(error == .connectionLoss, "a peer that dies mid-frame is a connection loss, got \(String(describing: error))")
            #expect(error?.mayHaveBeenApplied == true)
            #expect(proxy.repliesCut == 1)
            // And it was applied: the same session, reconnected, reads the new data.
            #expect(try await client.getData(path).data == Array("new".utf8))
            #expect(client.sessionID == session)
            // What the server refuses was certainly not applied.
            let refused = await #expect(throws: ZooKeeperError.badVersion) { try await client.setData(path, data: [1], version: 42) }
            #expect(refused?.mayHaveBeenApplied == false)
            await client.close()
        }
    }

    @Test func replyOverTheFrameLimitIsSkippedAndTheConnectionStays() async throws {
        try await withProxiedMember { ensemble, proxy in
            var small = options()
            small.maxFrameLength = 64 * 1024
            let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: small)
            let path = unique("big")
            try await client.create(path, data: [UInt8](repeating: 0x42, count: 200_000))
            let error = await #expect(throws: ZooKeeperError.self) { _ = try await client.getData(path) }
            guard case .replyTooLarge("get \(path)", let length, 65_536)? = error else {
                Issue.record("expected replyTooLarge, got \(String(describing: error))")
                return
            }
            #expect(length > 200_000)
            // Not a broken stream: the same connection goes on serving.
            try await client.setData(path, data: [1])
            #expect(try await client.getData(path).data == [1])
            #expect(proxy.acceptedConnections == 1)
            await client.close()
        }
    }

    @Test func lateReplyIsDroppedNotHandedToTheNextCaller() async throws {
        try await withProxiedMember { ensemble, proxy in
            let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options(request: 1))
            let path = unique("delayed")
            try await client.create(path, data: [1])
            // The reply comes after the caller gave up: the call times out as sent (the
            // server may have done it), and the late reply must not answer another call.
            proxy.replyDelay = 2
            let late = await #expect(throws: ZooKeeperError.self) { _ = try await client.getData(path) }
            #expect(late == .timedOut(operation: "get \(path)", sent: true))
            #expect(late?.mayHaveBeenApplied == true)
            proxy.replyDelay = 0
            #expect(try await eventually(10) { proxy.heldReplies == 0 })
            try await client.setData(path, data: [2])
            #expect(try await client.getData(path).data == [2])
            await client.close()
        }
    }

    @Test func soakThroughAConnectionCutEvery700Milliseconds() async throws {
        try await withProxiedMember { ensemble, proxy in
            let client = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options(session: 10, request: 10))
            let base = unique("soak")
            try await client.create(base)
            let nodes = 64
            for i in 0..<nodes { try await client.create("\(base)/n\(i)", data: soakValue(i)) }

            // At least 10,000 requests, and on until the proxy has cut the connection three
            // times (a fast machine answers 10,000 in about a second); bounded in count too.
            let minimum = 10_000, workers = 16, cap = 500_000
            let issued = Shared(0)
            let dropsBefore = proxy.connectionDrops
            func cuts() -> Int { proxy.connectionDrops - dropsBefore }
            proxy.startFlapping(every: 0.7)
            let outcomes = try await withThrowingTaskGroup(of: (ok: Int, lost: Int, wrong: [String]).self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        var ok = 0, lost = 0
                        var wrong: [String] = []
                        while true {
                            let k = issued.update { n in defer { n += 1 }; return n }
                            if k >= cap || (k >= minimum && cuts() >= 3) { break }
                            let i = (k * 7) % nodes
                            do {
                                let (data, stat) = try await client.getData("\(base)/n\(i)")
                                if data == soakValue(i) && Int(stat.dataLength) == data.count { ok += 1 } else {
                                    wrong.append("request \(k) for n\(i) got \(data.count) bytes: \(String(decoding: data.prefix(20), as: UTF8.self))")
                                }
                            } catch ZooKeeperError.connectionLoss {
                                lost += 1
                            } catch {
                                wrong.append("request \(k) for n\(i): \(error)")
                            }
                        }
                        return (ok, lost, wrong)
                    }
                }
                var results: [(ok: Int, lost: Int, wrong: [String])] = []
                while let result = try await group.next() { results.append(result) }
                return results
            }
            proxy.stopFlapping()
            let ok = outcomes.map(\.ok).reduce(0, +), lost = outcomes.map(\.lost).reduce(0, +)
            let wrong = outcomes.flatMap(\.wrong)
            let total = ok + lost + wrong.count
            #expect(wrong.isEmpty, "\(wrong.count) replies did not match their request: \(wrong.prefix(5))")
            #expect(total >= minimum && total < cap)
            // Only requests in flight at a cut may fail; the rest go through on the next link.
            #expect(ok >= total * 9 / 10, "\(ok) of \(total) succeeded, \(lost) lost")
            #expect(cuts() >= 3, "the proxy cut the connection only \(cuts()) times")
            print("soak: \(total) requests, \(ok) answered and matched, \(lost) lost in \(cuts()) cuts")
            await client.close()

            // 200 connect/close cycles leave no descriptor and no thread behind.
            func cycle() async throws {
                let c = try await ZooKeeperClient.connect(members: [proxy.endpoint], options: options())
                _ = try await c.exists(base)
                await c.close()
            }
            func settled() async throws -> (fds: Int, threads: Int) {
                _ = try await eventually(10) { proxy.openConnections == 0 }
                var last = (fds: try procEntries("fd"), threads: try procEntries("task"))
                // Stable across two looks 100 ms apart: closed clients' threads have exited.
                for _ in 0..<50 {
                    try await Task.sleep(nanoseconds: 100_000_000)
                    let now = (fds: try procEntries("fd"), threads: try procEntries("task"))
                    if now == last { break }
                    last = now
                }
                return last
            }
            // The first cycles may start pool threads that stay for the process's life.
            for _ in 0..<5 { try await cycle() }
            let before = try await settled()
            for _ in 0..<200 { try await cycle() }
            let clean = try await eventually(10) {
                try proxy.openConnections == 0 && procEntries("fd") <= before.fds && procEntries("task") <= before.threads
            }
            let after = (fds: try procEntries("fd"), threads: try procEntries("task"))
            #expect(clean, "descriptors \(before.fds) -> \(after.fds), threads \(before.threads) -> \(after.threads)")
        }
    }
}
