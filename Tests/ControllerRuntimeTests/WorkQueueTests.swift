@testable import ControllerRuntime
import KubernetesClient
import NetCore
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1))) struct WorkQueueTests {
    @Test func duplicatesAreReconciledOnce() async {
        let queue = WorkQueue<String>()
        await queue.add("a")
        await queue.add("b")
        await queue.add("a")
        #expect(await queue.depth == 2)
        #expect(await queue.next() == "a")
        #expect(await queue.next() == "b")
        #expect(await queue.depth == 0)
    }

    @Test func aKeyInFlightIsNotHandedOutAgainUntilDone() async {
        let queue = WorkQueue<String>()
        await queue.add("a")
        let first = await queue.next()
        #expect(first == "a")
        await queue.add("a")
        #expect(await queue.depth == 0, "re-added while in flight: held back")
        await queue.add("b")
        #expect(await queue.next() == "b")
        await queue.done("a")
        #expect(await queue.next() == "a", "queued again once its worker is done")
    }

    @Test func backoffGrowsPerKeyAndForgetResetsIt() async {
        let queue = WorkQueue<String>(backoff: .init(base: 0.01, limit: 0.08))
        #expect(await queue.addWithBackoff("a") == 0.01)
        #expect(await queue.addWithBackoff("a") == 0.02)
        #expect(await queue.addWithBackoff("a") == 0.04)
        #expect(await queue.addWithBackoff("a") == 0.08)
        #expect(await queue.addWithBackoff("a") == 0.08, "capped")
        #expect(await queue.addWithBackoff("b") == 0.01, "per key")
        await queue.forget("a")
        #expect(await queue.addWithBackoff("a") == 0.01)
    }

    @Test func delayedKeysArriveAfterTheirDelayAndNotBefore() async {
        let queue = WorkQueue<String>()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.runTimers() }
            let start = monotonicNanoseconds()
            await queue.addAfter("late", seconds: 0.3)
            await queue.addAfter("soon", seconds: 0.05)
            #expect(await queue.depth == 0)
            #expect(await queue.next() == "soon")
            #expect(await queue.next() == "late")
            #expect(Double(monotonicNanoseconds() - start) / 1e9 >= 0.3)
            await queue.shutDown()
        }
    }

    @Test func anImmediateAddOvertakesADelayedOne() async {
        let queue = WorkQueue<String>()
        await queue.addAfter("a", seconds: 3600)
        await queue.add("a")
        #expect(await queue.next() == "a")
        #expect(await queue.delayedCount == 0)
    }

    @Test func shutDownWakesWaitingWorkers() async {
        let queue = WorkQueue<String>()
        await withTaskGroup(of: String?.self) { group in
            group.addTask { await queue.next() }
            group.addTask { await queue.next() }
            // Let both workers park before shutting down.
            while await !queue.hasWaiters(2) { await Task.yield() }
            await queue.shutDown()
            var results: [String?] = []
            for await result in group { results.append(result) }
            #expect(results == [nil, nil])
        }
    }

    @Test func workersNeverReconcileOneKeyTwiceAtOnce() async throws {
        let queue = WorkQueue<ObjectKey>()
        let running = Mutex<Set<ObjectKey>>([])
        let overlaps = Atomic<Int>(0)
        let runs = Atomic<Int>(0)
        let controller = Controller(name: "test", queue: queue, workers: 4, logger: Logger(level: .error), metrics: MetricsRegistry()) { key in
            let fresh = running.withLock { $0.insert(key).inserted }
            if !fresh { overlaps.add(1, ordering: .relaxed) }
            try await Task.sleep(nanoseconds: 2_000_000)
            running.withLock { _ = $0.remove(key) }
            runs.add(1, ordering: .relaxed)
            return .awaitChange
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await controller.run() }
            for round in 0..<20 {
                for i in 0..<5 { await queue.add(ObjectKey(namespace: "ns", name: "e\(i)")) }
                if round % 5 == 0 { try? await Task.sleep(nanoseconds: 3_000_000) }
            }
            while await queue.depth + queue.inFlight > 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
            await queue.shutDown()
        }
        #expect(overlaps.load(ordering: .relaxed) == 0)
        #expect(runs.load(ordering: .relaxed) >= 5)
    }

    @Test func failingKeysBackOffWithoutHoldingUpOthers() async throws {
        let queue = WorkQueue<ObjectKey>(backoff: .init(base: 0.05, limit: 1))
        let attempts = Mutex<[String: Int]>([:])
        let metrics = MetricsRegistry()
        let controller = Controller(name: "test", queue: queue, workers: 2, logger: Logger(level: .error), metrics: metrics) { key in
            let n = attempts.withLock { a -> Int in a[key.name, default: 0] += 1; return a[key.name]! }
            if key.name == "bad" && n < 3 { throw KubernetesError.api(method: "PATCH", path: "/x", status: APIStatus(code: 500, reason: "InternalError", message: "injected")) }
            return .awaitChange
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await controller.run() }
            await queue.add(ObjectKey(namespace: "ns", name: "bad"))
            await queue.add(ObjectKey(namespace: "ns", name: "good"))
            let deadline = Deadline.after(seconds: 20)
            while attempts.withLock({ $0["bad"] ?? 0 }) < 3 && !deadline.hasPassed { try? await Task.sleep(nanoseconds: 5_000_000) }
            await queue.shutDown()
        }
        #expect(attempts.withLock { $0 } == ["bad": 3, "good": 1])
        #expect(metrics.value("ensemble_operator_reconcile_errors_total", ["controller": "test"]) == 2)
        #expect(await queue.failureCount(ObjectKey(namespace: "ns", name: "bad")) == 0, "a success forgets the failures")
    }

    @Test func requeueAfterComesBackWithoutAnyChange() async throws {
        let queue = WorkQueue<ObjectKey>()
        let runs = Mutex<[UInt64]>([])
        let metrics = MetricsRegistry()
        let controller = Controller(name: "test", queue: queue, workers: 1, logger: Logger(level: .error), metrics: metrics) { _ in
            let count = runs.withLock { r -> Int in r.append(monotonicNanoseconds()); return r.count }
            return count < 3 ? .requeue(after: 0.1) : .awaitChange
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await controller.run() }
            await queue.add(ObjectKey(namespace: "ns", name: "poll"))
            let deadline = Deadline.after(seconds: 20)
            while runs.withLock({ $0.count }) < 3 && !deadline.hasPassed { try? await Task.sleep(nanoseconds: 5_000_000) }
            await queue.shutDown()
        }
        let times = runs.withLock { $0 }
        #expect(times.count == 3)
        #expect(zip(times, times.dropFirst()).allSatisfy { Double($1 - $0) / 1e9 >= 0.1 }, "each requeue waits its delay")
        #expect(metrics.value("ensemble_operator_reconcile_total", ["controller": "test", "result": "requeue"]) == 2)
    }
}
