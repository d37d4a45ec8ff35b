import Foundation
import NetCore
import Testing

/// A name service that never answers until the test releases it.
private final class StuckNameService: Sendable {
    private let gate = DispatchSemaphore(value: 0)
    let calls = LockedCounter()

    var resolver: NameResolver { resolver(maximumPending: 2) }

    func resolver(maximumPending: Int) -> NameResolver {
        NameResolver(maximumPendingLookups: maximumPending) { [self] host, _ in
            calls.increment()
            gate.wait()
            return .failure(.resolve(host: host, reason: "released by the test"))
        }
    }

    func release(_ count: Int) { for _ in 0..<count { gate.signal() } }
}

final class LockedCounter: Sendable {
    private let lock = ConditionLock()
    nonisolated(unsafe) private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

private func seconds(since start: Deadline) -> Double { Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9 }

/// Generous slack over a configured bound (a loaded 2-core machine); a hang is far beyond it.
private let margin = 10.0

@Suite("Bounded name resolution", .serialized, .timeLimit(.minutes(1)))
struct NameResolverTests {
    @Test func lookupThatNeverAnswersEndsAtTheDeadlineAndStuckLookupsAreCapped() async throws {
        let service = StuckNameService()
        let resolver = service.resolver
        defer { service.release(2) }
        let start = Deadline.now
        #expect {
            _ = try resolver.resolve(host: "zk-0.zk.test", port: 2181, deadline: .after(seconds: 0.3))
        } throws: { error in
            "\(error)".hasPrefix("cannot resolve zk-0.zk.test: no answer from the name service before the deadline")
        }
        #expect(seconds(since: start) < 0.3 + margin)
        #expect(resolver.pendingLookups == 1)
        #expect(throws: NetError.self) { _ = try resolver.resolve(host: "zk-1.zk.test", port: 2181, deadline: .after(seconds: 0.1)) }
        #expect(resolver.pendingLookups == 2)
        // The cap: a third lookup is not even started while two are stuck, and says why.
        let capped = Deadline.now
        #expect {
            _ = try resolver.resolve(host: "zk-2.zk.test", port: 2181, deadline: .after(seconds: 30))
        } throws: { error in
            "\(error)".contains("2 earlier lookups are still unanswered (at most 2 at once)")
        }
        #expect(seconds(since: capped) < margin)
        #expect(service.calls.value == 2)
        // Once the name service answers, the stuck lookups finish and free their places.
        service.release(2)
        let freed = Deadline.after(seconds: margin)
        while resolver.pendingLookups > 0 && !freed.hasPassed { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(resolver.pendingLookups == 0)
    }

    @Test func connectIsBoundedByItsDeadlineWhileResolving() {
        let service = StuckNameService()
        defer { service.release(2) }
        let start = Deadline.now
        #expect {
            _ = try TCPConnection.connect(host: "zk.test", port: 2181, deadline: .after(seconds: 0.3), resolver: service.resolver)
        } throws: { error in
            guard case .resolve(let host, _)? = error as? NetError else { return false }
            return host == "zk.test"
        }
        #expect(seconds(since: start) < 0.3 + margin)
    }

    @Test func numericAddressesNeverReachTheNameService() {
        let service = StuckNameService()
        #expect(throws: NetError.self) {
            // Refused at once: port 1 has no listener.
            _ = try TCPConnection.connect(host: "127.0.0.1", port: 1, deadline: .after(seconds: 5), resolver: service.resolver)
        }
        #expect(service.calls.value == 0)
    }

    @Test func systemResolverAnswersFromTheHostsFile() throws {
        let addresses = try NameResolver.system.resolve(host: "localhost", port: 2181, deadline: .after(seconds: 10))
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0.family == AF_INET || $0.family == AF_INET6 })
    }
}

@Suite("Durations never crash")
struct DurationTests {
    @Test(arguments: [Double.infinity, 1e300, 1.9e10, Double.greatestFiniteMagnitude])
    func hugeDurationsSaturate(_ seconds: Double) {
        #expect(Deadline.after(seconds: seconds) == .distantFuture)
        #expect(Deadline.after(seconds: seconds).remainingMilliseconds == Int32.max)
    }

    @Test(arguments: [0, -1, -Double.infinity, Double.nan])
    func emptyDurationsHavePassed(_ seconds: Double) {
        #expect(Deadline.after(seconds: seconds).hasPassed)
    }

    @Test func addingSaturates() {
        #expect(Deadline.now.adding(nanoseconds: .max) == .distantFuture)
        #expect(Deadline(nanoseconds: 5).adding(nanoseconds: 7).nanoseconds == 12)
    }

    @Test(arguments: [
        (Double.infinity, "must be a finite number of seconds, got inf"),
        (Double.nan, "must be a finite number of seconds, got nan"),
        (0, "must be at least 0.001 seconds (1 ms), got 0.0"),
        (-3, "must be at least 0.001 seconds (1 ms), got -3.0"),
        (1e300, "must be at most 2147483.647 seconds, got 1e+300"),
        (2147483.648, "must be at most 2147483.647 seconds, got 2147483.648"),
    ])
    func invalidDurationsAreNamed(_ seconds: Double, _ reason: String) {
        #expect(throws: InvalidDuration(name: "--timeout", reason: reason)) { try validateDuration(seconds, name: "--timeout") }
    }

    @Test func validDurations() throws {
        try validateDuration(0.001, name: "x")
        try validateDuration(maximumProtocolSeconds, name: "x")
        try validateDuration(600, name: "x", maximum: 600)
        #expect(throws: InvalidDuration(name: "x", reason: "must be at most 600 seconds, got 600.5")) {
            try validateDuration(600.5, name: "x", maximum: 600)
        }
    }
}
