import ArgumentParser
import NetCore

/// Every duration option goes through here: finite, at least 1 ms, at most `maximum`
/// (ZooKeeper's Int32 milliseconds unless the command has a tighter bound), so `inf` or
/// `1e300` is a usage error (exit 64), never a crash further in.
func validateDurationOption(_ seconds: Double, _ option: String, maximum: Double = maximumProtocolSeconds) throws {
    do {
        try validateDuration(seconds, name: option, maximum: maximum)
    } catch {
        throw ValidationError(error.description)
    }
}
