import NetCore
import Synchronization

/// Keys waiting to be reconciled.
///
/// - A key queued twice is reconciled once (deduplicated).
/// - A key is never handed to two workers at once: added while in flight, it is queued again
///   only when its worker calls `done`.
/// - `addAfter` delays a key (requeue-after); the earliest deadline wins.
/// - `addWithBackoff` delays a failing key exponentially per key (`backoff`); `forget`
///   resets it after a success.
public actor WorkQueue<Key: Hashable & Sendable> {
    public struct Backoff: Sendable {
        public var base: Double
        public var limit: Double
        public init(base: Double = 0.005, limit: Double = 300) {
            self.base = base
            self.limit = limit
        }

        public func delay(failures: Int) -> Double {
            min(limit, base * Double(1 << min(max(failures - 1, 0), 40)))
        }
    }

    private var ready: [Key] = []
    private var readyHead = 0
    private var queued: Set<Key> = []
    private var processing: Set<Key> = []
    /// Added while processing: queued again on `done`.
    private var dirty: Set<Key> = []
    private var delayed: [Key: UInt64] = [:]
    private var failures: [Key: Int] = [:]
    private var waiters: [CheckedContinuation<Key?, Never>] = []
    private var shuttingDown = false
    private let backoff: Backoff
    private let wake = WakeSignal()
    private let onDepthChange: @Sendable (Int) -> Void

    public init(backoff: Backoff = Backoff(), onDepthChange: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.backoff = backoff
        self.onDepthChange = onDepthChange
    }

    /// Keys waiting (not in flight, not delayed).
    public var depth: Int { ready.count - readyHead }
    public var inFlight: Int { processing.count }
    public var delayedCount: Int { delayed.count }

    public func add(_ key: Key) {
        guard !shuttingDown else { return }
        delayed[key] = nil
        if processing.contains(key) { dirty.insert(key); return }
        guard queued.insert(key).inserted else { return }
        if let waiter = waiters.first {
            waiters.removeFirst()
            queued.remove(key)
            processing.insert(key)
            waiter.resume(returning: key)
            return
        }
        ready.append(key)
        onDepthChange(depth)
    }

    public func addAfter(_ key: Key, seconds: Double) {
        guard !shuttingDown else { return }
        if seconds <= 0 { add(key); return }
        if queued.contains(key) { return }
        let deadline = monotonicNanoseconds() &+ UInt64(seconds * 1e9)
        if let existing = delayed[key], existing <= deadline { return }
        delayed[key] = deadline
        wake.fire()
    }

    /// Requeues a failed key after its per-key backoff; returns the delay.
    @discardableResult
    public func addWithBackoff(_ key: Key) -> Double {
        let count = (failures[key] ?? 0) + 1
        failures[key] = count
        let delay = backoff.delay(failures: count)
        addAfter(key, seconds: delay)
        return delay
    }

    public func forget(_ key: Key) { failures[key] = nil }
    public func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }

    /// The next key to reconcile; nil once shut down.
    public func next() async -> Key? {
        if shuttingDown { return nil }
        if readyHead < ready.count {
            let key = ready[readyHead]
            readyHead += 1
            if readyHead > 1024 && readyHead * 2 > ready.count {
                ready.removeFirst(readyHead)
                readyHead = 0
            }
            queued.remove(key)
            processing.insert(key)
            onDepthChange(depth)
            return key
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// The worker finished `key`; if it was added meanwhile it is queued again.
    public func done(_ key: Key) {
        processing.remove(key)
        if dirty.remove(key) != nil { add(key) }
    }

    /// Wakes every waiting worker with nil; keys in flight still finish.
    public func shutDown() {
        shuttingDown = true
        for waiter in waiters { waiter.resume(returning: nil) }
        waiters.removeAll()
        wake.fire()
    }

    /// For tests: at least `count` workers are parked in `next()`.
    func hasWaiters(_ count: Int) -> Bool { waiters.count >= count }

    /// Moves due delayed keys to the queue; the time until the next one is due.
    private func promoteDue() -> UInt64? {
        let now = monotonicNanoseconds()
        var next: UInt64?
        for (key, deadline) in delayed {
            if deadline <= now {
                delayed[key] = nil
                add(key)
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        return next.map { $0 - now }
    }

    /// Runs the delay timer until shut down: one sleep for the earliest deadline, cut short
    /// when an earlier one arrives.
    public func runTimers() async {
        while !shuttingDown && !Task.isCancelled {
            if let wait = promoteDue() {
                await wake.wait(timeout: Double(wait) / 1e9)
            } else {
                await wake.wait()
            }
        }
    }
}

/// A wake-up for one waiter at a time, which cancellation or a timeout also ends. A `fire`
/// with nobody waiting is kept for the next `wait`.
public final class WakeSignal: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Void, Never>?
        var pending = false
    }

    private let state = Mutex(State())

    public init() {}

    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending { s.pending = false; return true }
                    s.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            fire()
        }
    }

    /// Waits for `fire` or `timeout` seconds, whichever comes first.
    public func wait(timeout: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9)) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    public func fire() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            let w = s.waiter
            s.waiter = nil
            if w == nil { s.pending = true }
            return w
        }
        waiter?.resume()
    }
}
