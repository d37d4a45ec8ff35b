/// The longest duration ZooKeeper's protocol carries: Int32 milliseconds, about 24.8 days.
public let maximumProtocolSeconds = Double(Int32.max) / 1000

/// A duration given by a user that cannot be used, with the option or field it came from.
public struct InvalidDuration: Error, Equatable, Sendable, CustomStringConvertible {
    public var name: String
    public var reason: String
    public var description: String { "\(name) \(reason)" }

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}

/// Checks a duration in seconds at the boundary where it enters the program (a command-line
/// option, a client option): finite, at least one millisecond and at most `maximum`, so no
/// conversion to integer milliseconds or nanoseconds can trap further in.
public func validateDuration(_ seconds: Double, name: String, maximum: Double = maximumProtocolSeconds) throws(InvalidDuration) {
    guard seconds.isFinite else {
        throw InvalidDuration(name: name, reason: "must be a finite number of seconds, got \(seconds)")
    }
    guard seconds >= 0.001 else {
        throw InvalidDuration(name: name, reason: "must be at least 0.001 seconds (1 ms), got \(seconds)")
    }
    guard seconds <= maximum else {
        throw InvalidDuration(name: name, reason: "must be at most \(formatSeconds(maximum)) seconds, got \(seconds)")
    }
}

/// "600" rather than "600.0"; fractions as Swift prints them.
private func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int64(seconds)) : "\(seconds)"
}
