import EnsembleCore
#if canImport(Glibc)
import Glibc
#endif

/// Structured logs: one JSON object per line on stderr (`--log-format json`, the default),
/// or `time level message key=value` lines for people (`text`).
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error
        public var name: String { ["debug", "info", "warning", "error"][rawValue] }
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name }) else { return nil }
            self = level
        }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public enum Format: String, Sendable { case json, text }

    public var level: Level
    public var format: Format
    /// Fields on every line (e.g. the controller's name).
    public var context: [(String, String)]
    let sink: @Sendable (String) -> Void

    public init(level: Level = .info, format: Format = .json, context: [(String, String)] = [],
                sink: @escaping @Sendable (String) -> Void = Logger.standardError) {
        self.level = level
        self.format = format
        self.context = context
        self.sink = sink
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.append(10)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.context.append((key, value))
        return copy
    }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, message, fields) }

    public func log(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, String>) {
        guard level >= self.level else { return }
        let all = context + fields.map { ($0.key, $0.value) }
        switch format {
        case .json:
            var line = "{\"ts\":\(Emit.jsonString(Self.timestamp())),\"level\":\"\(level.name)\",\"msg\":\(Emit.jsonString(message))"
            for (key, value) in all { line += ",\(Emit.jsonString(key)):\(Emit.jsonString(value))" }
            sink(line + "}")
        case .text:
            var line = "\(Self.timestamp()) \(level.name.uppercased()) \(message)"
            for (key, value) in all { line += " \(key)=\(value.contains(" ") ? Emit.jsonString(value) : value)" }
            sink(line)
        }
    }

    /// RFC 3339 UTC with milliseconds, from the wall clock.
    public static func timestamp() -> String { rfc3339(millisecondPrecision: true) }
}

/// The wall clock as RFC 3339 UTC ("2025-01-01T00:00:00Z"), as Kubernetes timestamps are.
public func rfc3339(millisecondPrecision: Bool = false) -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var seconds = ts.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ n: Int32, _ width: Int = 2) -> String {
        let text = String(n)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
    if millisecondPrecision { text += "." + pad(Int32(ts.tv_nsec / 1_000_000), 3) }
    return text + "Z"
}
