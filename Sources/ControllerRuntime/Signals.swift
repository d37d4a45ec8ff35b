import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT as an awaitable event: the process then stops taking work, finishes
/// what is in flight and releases its lease.
public final class ShutdownSignal: @unchecked Sendable {
    // Set once in init, never mutated: the sources only need to stay alive.
    private let sources: [any DispatchSourceSignal]
    private let wake = WakeSignal()

    public init(signals: [Int32] = [SIGTERM, SIGINT]) {
        var sources: [any DispatchSourceSignal] = []
        let wake = self.wake
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { wake.fire() }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Returns when a signal arrives (or the task is cancelled).
    public func wait() async { await wake.wait() }

    public func trigger() { wake.fire() }
}
