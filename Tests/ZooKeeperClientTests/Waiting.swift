import NetCore

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(_ timeout: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Deadline.after(seconds: timeout)
    while !deadline.hasPassed {
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    return try await condition()
}

/// Seconds since `start`.
func seconds(since start: Deadline) -> Double {
    Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
}

/// A value shared between test tasks.
final class Shared<Value: Sendable>: Sendable {
    private let lock = ConditionLock()
    nonisolated(unsafe) private var storage: Value
    init(_ value: Value) { storage = value }
    var value: Value { lock.withLock { storage } }
    func update<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&storage) } }
}
