import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT as an awaitable, broadcast event: the process then stops taking work,
/// finishes what is in flight and releases its lease. Every waiter wakes; later waiters
/// return at once.
public final class ShutdownSignal: @unchecked Sendable {
    private let state = Mutex<(triggered: Bool, waiters: [Int: CheckedContinuation<Void, Never>], next: Int)>((false, [:], 0))

    public init(signals: [Int32] = [SIGTERM, SIGINT]) {
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            sources.append(source)
        }
        // Handlers capture self weakly through a box set after init.
        let box = WeakBox()
        for source in sources {
            source.setEventHandler { box.target?.trigger() }
            source.resume()
        }
        self.sourcesStorage = sources
        box.target = self
    }

    // Written once in init: the sources only need to stay alive.
    private var sourcesStorage: [any DispatchSourceSignal] = []

    public var isTriggered: Bool { state.withLock { $0.triggered } }

    public func trigger() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.triggered = true
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return w
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the signal arrives, or when the waiting task is cancelled.
    public func wait() async {
        let id = state.withLock { s -> Int in s.next += 1; return s.next }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.triggered || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    private final class WeakBox: @unchecked Sendable {
        weak var target: ShutdownSignal?
    }
}
