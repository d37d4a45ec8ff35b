@testable import ControllerRuntime
import EnsembleCore
import NetCore
import Synchronization
import Testing

@Suite struct LeaderElectorTests {
    let second: UInt64 = 1_000_000_000

    @Test func createsAMissingLeaseAndRenewsItsOwn() {
        var elector = LeaderElector(identity: "a")
        guard case .create(let record) = elector.decide(lease: nil, now: 0, wallClock: "t0") else { Issue.record("expected create"); return }
        #expect(record.holderIdentity == "a" && record.leaseDurationSeconds == 15)
        elector.succeeded(record, now: 0)
        #expect(elector.isLeader)
        guard case .update(let renewal) = elector.decide(lease: record, now: 2 * second, wallClock: "t2") else { Issue.record("expected renew"); return }
        #expect(renewal.holderIdentity == "a" && renewal.renewTime == "t2" && renewal.leaseTransitions == 0)
    }

    @Test func aStandbyWaitsForExpiryMeasuredOnItsOwnClock() {
        var standby = LeaderElector(identity: "b")
        let held = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "x", renewTime: "x", leaseTransitions: 3, resourceVersion: "7")
        #expect(standby.decide(lease: held, now: 100 * second, wallClock: "w") == .wait(seconds: 2))
        // The holder renews: the expiry clock restarts from this observation.
        var renewed = held
        renewed.renewTime = "y"
        renewed.resourceVersion = "8"
        #expect(standby.decide(lease: renewed, now: 110 * second, wallClock: "w") == .wait(seconds: 2))
        #expect(standby.decide(lease: renewed, now: 124 * second, wallClock: "w") == .wait(seconds: 1.01))
        guard case .update(let takeover) = standby.decide(lease: renewed, now: 125 * second, wallClock: "w") else {
            Issue.record("expected a takeover once 15 s passed without a change"); return
        }
        #expect(takeover.holderIdentity == "b" && takeover.leaseTransitions == 4 && takeover.resourceVersion == "8")
    }

    @Test func aReleasedLeaseIsTakenAtOnce() {
        var elector = LeaderElector(identity: "b")
        let released = LeaseRecord(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: "x", renewTime: "x", leaseTransitions: 1)
        guard case .update(let record) = elector.decide(lease: released, now: 0, wallClock: "w") else { Issue.record("expected takeover"); return }
        #expect(record.holderIdentity == "b")
    }

    @Test func aLeaderThatCannotRenewStepsDownAfterTheRenewDeadline() {
        var elector = LeaderElector(identity: "a", renewDeadline: 10)
        let record = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t", renewTime: "t", leaseTransitions: 0)
        elector.succeeded(record, now: 0)
        let early = elector.failed(now: 5 * second)
        #expect(!early && elector.isLeader)
        let late = elector.failed(now: 11 * second)
        #expect(late)
        #expect(!elector.isLeader)
    }

    @Test func aLeaderThatSeesAnotherHolderStepsDownAtOnce() {
        var elector = LeaderElector(identity: "a")
        let ours = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t", renewTime: "t", leaseTransitions: 0, resourceVersion: "1")
        elector.succeeded(ours, now: 0)
        var taken = ours
        taken.holderIdentity = "b"
        taken.resourceVersion = "2"
        #expect(elector.decide(lease: taken, now: second, wallClock: "w") == .wait(seconds: 2))
        #expect(!elector.isLeader, "no second leader while the other one's lease runs")
    }

    @Test func releaseOnlyOurOwnLease() {
        let elector = LeaderElector(identity: "a")
        let ours = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t", renewTime: "t", leaseTransitions: 0, resourceVersion: "5")
        #expect(elector.release(ours, wallClock: "u")?.holderIdentity == "")
        #expect(elector.release(ours, wallClock: "u")?.resourceVersion == "5")
        var theirs = ours
        theirs.holderIdentity = "b"
        #expect(elector.release(theirs, wallClock: "u") == nil)
    }

    @Test func leaseObjectRoundTrip() {
        let record = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t1", renewTime: "t2", leaseTransitions: 2, resourceVersion: "9")
        #expect(LeaseRecord(record.object(name: "l", namespace: "ns")) == record)
    }
}

@Suite struct MetricsTests {
    @Test func exposition() {
        let metrics = MetricsRegistry()
        metrics.register("reqs_total", .counter, help: "Requests.")
        metrics.register("lat_seconds", .histogram, help: "Latency.", buckets: [0.1, 1])
        metrics.register("phase", .gauge, help: "By phase.")
        metrics.increment("reqs_total", ["verb": "GET", "code": "200"])
        metrics.increment("reqs_total", ["verb": "GET", "code": "200"])
        metrics.observe("lat_seconds", [:], 0.05)
        metrics.observe("lat_seconds", [:], 0.5)
        metrics.replace("phase", [([("phase", "Running")], 3)])
        metrics.replace("phase", [([("phase", "Pending")], 1)])
        #expect(metrics.render() == """
            # HELP lat_seconds Latency.
            # TYPE lat_seconds histogram
            lat_seconds_bucket{le="0.1"} 1
            lat_seconds_bucket{le="1"} 2
            lat_seconds_bucket{le="+Inf"} 2
            lat_seconds_sum 0.55
            lat_seconds_count 2
            # HELP phase By phase.
            # TYPE phase gauge
            phase{phase="Pending"} 1
            # HELP reqs_total Requests.
            # TYPE reqs_total counter
            reqs_total{verb="GET",code="200"} 2

            """)
    }

    @Test func replacingOneEnsemblesSeriesKeepsTheOthers() {
        let metrics = MetricsRegistry()
        metrics.register("m", .gauge, help: "h")
        metrics.replace("m", group: [("ns", "a"), ("ensemble", "x")], [([("ns", "a"), ("ensemble", "x"), ("pod", "x-0")], 1)])
        metrics.replace("m", group: [("ns", "a"), ("ensemble", "xy")], [([("ns", "a"), ("ensemble", "xy"), ("pod", "xy-0")], 2)])
        metrics.replace("m", group: [("ns", "a"), ("ensemble", "x")], [])
        #expect(metrics.render().contains("m{ns=\"a\",ensemble=\"xy\",pod=\"xy-0\"} 2"))
        #expect(!metrics.render().contains("x-0"))
    }

    @Test func labelValuesAreEscaped() {
        #expect(MetricsRegistry.labelText([("a", "q\"b\\\n")]) == "{a=\"q\\\"b\\\\\\n\"}")
    }
}

@Suite struct LoggerTests {
    @Test func oneJSONObjectPerLine() {
        let lines = Mutex<[String]>([])
        let logger = Logger(level: .info, format: .json, context: [("controller", "ensemble")]) { line in lines.withLock { $0.append(line) } }
        logger.debug("hidden")
        logger.info("reconciled \"zk\"", ["key": "ns/zk"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        #expect(written[0].hasPrefix("{\"ts\":\""))
        #expect(written[0].hasSuffix(",\"level\":\"info\",\"msg\":\"reconciled \\\"zk\\\"\",\"controller\":\"ensemble\",\"key\":\"ns/zk\"}"))
        #expect(!written[0].contains("\n"))
    }

    @Test func rfc3339Shape() {
        let text = rfc3339()
        #expect(text.count == 20 && text.hasSuffix("Z") && text.dropFirst(10).hasPrefix("T"))
    }
}

@Suite struct StoreTests {
    struct Item: Equatable, Sendable { var owner: String; var version: Int }

    @Test func ownerIndexFollowsUpsertsRemovalsAndRelists() {
        let store = Store<Item> { key, item in ObjectKey(namespace: key.namespace, name: item.owner) }
        let a = ObjectKey(namespace: "ns", name: "a-0")
        #expect(store.upsert(a, Item(owner: "a", version: 1)) == [ObjectKey(namespace: "ns", name: "a")])
        // Moving to another owner touches both.
        #expect(store.upsert(a, Item(owner: "b", version: 2)).count == 2)
        #expect(store.owned(by: ObjectKey(namespace: "ns", name: "a")).isEmpty)
        #expect(store.owned(by: ObjectKey(namespace: "ns", name: "b")) == [Item(owner: "b", version: 2)])
        let c = ObjectKey(namespace: "ns", name: "c-0")
        let touched = store.replaceAll([c: Item(owner: "c", version: 1)]) { $0 != $1 }
        #expect(touched == [ObjectKey(namespace: "ns", name: "b"), ObjectKey(namespace: "ns", name: "c")])
        #expect(store.isSynced && store.count == 1)
        #expect(store.replaceAll([c: Item(owner: "c", version: 1)]) { $0 != $1 }.isEmpty, "an unchanged relist touches nothing")
        #expect(store.remove(c) == [ObjectKey(namespace: "ns", name: "c")])
    }

    /// Several objects per owner, replaced in place (listed once, in name order) and counted
    /// without copying them out.
    @Test func ownersListTheirObjectsOnceAndCountsGroupThem() {
        let store = Store<Item> { key, item in ObjectKey(namespace: key.namespace, name: item.owner) }
        let owner = ObjectKey(namespace: "ns", name: "a")
        for name in ["a-2", "a-0", "a-1"] { store.upsert(ObjectKey(namespace: "ns", name: name), Item(owner: "a", version: 1)) }
        store.upsert(ObjectKey(namespace: "ns", name: "a-0"), Item(owner: "a", version: 2))
        store.upsert(ObjectKey(namespace: "ns", name: "b-0"), Item(owner: "b", version: 1))
        #expect(store.owned(by: owner).map(\.version) == [2, 1, 1])
        store.remove(ObjectKey(namespace: "ns", name: "a-1"))
        #expect(store.owned(by: owner).count == 2)
        #expect(store.count(by: \.owner) == ["a": 2, "b": 1])
    }
}

@Suite(.timeLimit(.minutes(1))) struct HealthServerTests {
    func get(_ port: Int, _ request: String) throws -> String {
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .after(seconds: 5))
        defer { connection.close() }
        try connection.writeAll(Array(request.utf8), deadline: .after(seconds: 5))
        return String(decoding: try connection.readToEnd(limit: 1 << 20, deadline: .after(seconds: 5)), as: UTF8.self)
    }

    @Test func servesHealthReadinessAndMetricsOverRealSockets() async throws {
        let ready = Atomic<Bool>(false)
        let server = try HealthServer(bindAddress: "127.0.0.1:0", handler: HealthServer.standardHandler(
            ready: { ready.load(ordering: .relaxed) ? (true, "ok") : (false, "caches not synced") },
            metrics: { "up 1\n" }))
        let port = server.listener.port
        #expect(port > 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await server.run() }
            let health = try get(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n") && health.hasSuffix("\r\n\r\nok\n"))
            #expect(try get(port, "GET /readyz HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 503"))
            ready.store(true, ordering: .relaxed)
            #expect(try get(port, "GET /readyz HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            let metrics = try get(port, "GET /metrics?x=1 HTTP/1.1\r\n\r\n")
            #expect(metrics.contains("Content-Type: text/plain; version=0.0.4") && metrics.hasSuffix("up 1\n"))
            #expect(try get(port, "GET /nope HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404"))
            #expect(try get(port, "POST /healthz HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 405"))
            #expect(try get(port, "garbage\r\n\r\n").hasPrefix("HTTP/1.1 400"))
            // A client that connects and says nothing is dropped after the request timeout;
            // the next one is still served.
            let silent = try TCPConnection.connect(host: "127.0.0.1", port: port, deadline: .after(seconds: 5))
            defer { silent.close() }
            #expect(try get(port, "GET /healthz HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            group.cancelAll()
        }
    }

    @Test func bindAddressForms() throws {
        #expect(try HealthServer.parseBindAddress(":8081") == ("0.0.0.0", 8081))
        #expect(try HealthServer.parseBindAddress("127.0.0.1:9") == ("127.0.0.1", 9))
        #expect(throws: NetError.self) { try HealthServer(bindAddress: "example.com:80") { _ in .init(status: 200, body: "") } }
    }
}

@Suite struct StoreVersionTests {
    struct Item: Equatable, Sendable { var value: Int }

    /// The reply to a write can arrive after the watch event of a later change: the older
    /// object must not replace the newer one, nor bring back a deleted one.
    @Test func olderVersionsNeverReplaceNewerOnes() {
        let store = Store<Item> { key, _ in key }
        let key = ObjectKey(namespace: "ns", name: "a")
        store.upsert(key, Item(value: 11), resourceVersion: "11")
        #expect(store.upsert(key, Item(value: 10), resourceVersion: "10").isEmpty)
        #expect(store.get(key) == Item(value: 11))
        store.upsert(key, Item(value: 12), resourceVersion: "12")
        #expect(store.get(key) == Item(value: 12))
        store.remove(key, resourceVersion: "13")
        store.upsert(key, Item(value: 12), resourceVersion: "12")
        #expect(store.get(key) == nil, "a tombstone keeps a late reply from resurrecting it")
        store.upsert(key, Item(value: 14), resourceVersion: "14")
        #expect(store.get(key) == Item(value: 14), "a newer object (re-created) is taken")
        store.upsert(key, Item(value: 1), resourceVersion: "not-a-number")
        #expect(store.get(key) == Item(value: 1), "opaque versions are taken as they come")
    }
}
