import Foundation
import NetCore

/// Runs `query` against every member on its own thread, so one hung member costs one
/// timeout in total, not one per member. Results keep the order of `targets`.
public func queryMembers<T: Sendable>(
    _ targets: [(host: String, port: Int)], timeout: Double,
    _ query: @escaping @Sendable (String, Int, Deadline) -> T
) -> [(member: String, result: T)] {
    let slots = ResultSlots<T>(count: targets.count)
    let done = DispatchSemaphore(value: 0)
    let deadline = Deadline.after(seconds: timeout)
    for (index, target) in targets.enumerated() {
        let host = target.host, port = target.port
        Thread.detachNewThread {
            let value = query(host, port, deadline)
            slots.lock.withLock { slots.values[index] = value }
            done.signal()
        }
    }
    for _ in targets { done.wait() }
    return targets.enumerated().map { index, target in
        (displayName(target), slots.lock.withLock { slots.values[index]! })
    }
}

/// `queryMembers` from async code: the blocking work and the wait for it run on threads of
/// their own, never on one of Swift's few cooperative threads.
public func queryMembers<T: Sendable>(
    _ targets: [(host: String, port: Int)], timeout: Double,
    _ query: @escaping @Sendable (String, Int, Deadline) -> T
) async -> [(member: String, result: T)] {
    let copy = targets.map { MemberTarget(host: $0.host, port: $0.port) }
    let answers = await withCheckedContinuation { (continuation: CheckedContinuation<[(String, T)], Never>) in
        Thread.detachNewThread {
            let results = queryMembers(copy.map { ($0.host, $0.port) }, timeout: timeout, query)
            continuation.resume(returning: results.map { ($0.member, $0.result) })
        }
    }
    return answers.map { (member: $0.0, result: $0.1) }
}

private struct MemberTarget: Sendable {
    var host: String
    var port: Int
}

/// One slot per member, written by that member's thread under the lock.
private final class ResultSlots<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [T?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
}

/// "host:port", with an IPv6 host bracketed.
public func displayName(_ target: (host: String, port: Int)) -> String {
    target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
}
