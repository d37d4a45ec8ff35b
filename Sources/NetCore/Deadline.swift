#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A point on the monotonic clock. Wall-clock jumps must not stretch or cut a timeout.
public struct Deadline: Sendable, Comparable {
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static var now: Deadline { Deadline(nanoseconds: monotonicNanoseconds()) }

    /// Never traps: a negative, zero or NaN duration is now, and one too large for the clock
    /// (infinity, 1e300) is `distantFuture`. Callers still validate durations from users
    /// (`validateDuration`); this only guarantees that no input crashes the process.
    public static func after(seconds: Double) -> Deadline {
        let now = monotonicNanoseconds()
        guard seconds > 0 else { return Deadline(nanoseconds: now) }
        let nanoseconds = seconds * 1_000_000_000
        // Double(UInt64.max) is 2^64: anything below it converts without trapping.
        guard nanoseconds < Double(UInt64.max) else { return .distantFuture }
        let (sum, overflow) = now.addingReportingOverflow(UInt64(nanoseconds))
        return overflow ? .distantFuture : Deadline(nanoseconds: sum)
    }

    /// Later than any deadline a duration can produce.
    public static let distantFuture = Deadline(nanoseconds: .max)

    /// This deadline moved later by `nanoseconds`, saturating at `distantFuture`.
    public func adding(nanoseconds delta: UInt64) -> Deadline {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return overflow ? .distantFuture : Deadline(nanoseconds: sum)
    }

    /// Milliseconds left, rounded up so a positive remainder never polls with 0; 0 when passed.
    public var remainingMilliseconds: Int32 {
        let now = monotonicNanoseconds()
        if now >= nanoseconds { return 0 }
        let ms = (nanoseconds - now + 999_999) / 1_000_000
        return Int32(clamping: ms)
    }

    public var hasPassed: Bool { monotonicNanoseconds() >= nanoseconds }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}

public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// What went wrong on the wire, phrased for a one-line probe message or CLI error.
public enum NetError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidAddress(String)
    case resolve(host: String, reason: String)
    case connect(host: String, port: Int, reason: String)
    case timeout(String)
    case closed(received: Int, expected: Int)
    case tooLarge(limit: Int)
    case io(String)

    public var description: String {
        switch self {
        case .invalidAddress(let text): return text
        case .resolve(let host, let reason): return "cannot resolve \(host): \(reason)"
        case .connect(let host, let port, let reason): return "cannot connect to \(host):\(port): \(reason)"
        case .timeout(let phase): return "timed out \(phase)"
        case .closed(let received, let expected): return "connection closed after \(received) of \(expected) bytes"
        case .tooLarge(let limit): return "reply larger than \(limit) bytes"
        case .io(let text): return text
        }
    }
}

/// Splits "host:port" (or "[v6]:port"); a missing port takes `defaultPort`.
public func parseHostPort(_ text: String, defaultPort: Int) throws(NetError) -> (host: String, port: Int) {
    var host = text
    var portText: Substring?
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { throw .invalidAddress("'\(text)': missing ']'") }
        host = String(text[text.index(after: text.startIndex)..<close])
        let rest = text[text.index(after: close)...]
        if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty {
            throw .invalidAddress("'\(text)': expected ':port' after ']'")
        }
    } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
        host = String(text[..<colon])
        portText = text[text.index(after: colon)...]
    }
    if host.isEmpty { throw .invalidAddress("'\(text)': empty host") }
    guard let portText else { return (host, defaultPort) }
    guard let port = Int(portText), (1...65535).contains(port) else {
        throw .invalidAddress("'\(text)': port must be a number between 1 and 65535")
    }
    return (host, port)
}
