import Synchronization

/// Told about every finished API request (the operator's /metrics counts them). Called on
/// the requesting task; must be cheap and must not block.
public protocol RequestObserver: Sendable {
    /// - verb: get, list, watch, create, apply, update, patch, delete (the Kubernetes verbs).
    /// - resource: the plural with group ("statefulsets.apps"), or the path for raw requests.
    /// - code: the HTTP status, or nil when no answer came (transport error, deadline).
    func requestFinished(verb: String, resource: String, code: Int?, seconds: Double)
}

/// Counts requests by verb and response code: the figures of
/// `rest_client_requests_total{verb,code}` style metrics.
public final class RequestCounter: RequestObserver {
    public struct Key: Hashable, Sendable, Comparable {
        public var verb: String
        /// The HTTP status as text, or "<error>" when no answer came.
        public var code: String

        public init(verb: String, code: String) {
            self.verb = verb
            self.code = code
        }

        public static func < (a: Key, b: Key) -> Bool { (a.verb, a.code) < (b.verb, b.code) }
    }

    private let counts = Mutex<[Key: Int]>([:])

    public init() {}

    public func requestFinished(verb: String, resource: String, code: Int?, seconds: Double) {
        let key = Key(verb: verb, code: code.map(String.init) ?? "<error>")
        counts.withLock { $0[key, default: 0] += 1 }
    }

    public func snapshot() -> [Key: Int] { counts.withLock { $0 } }

    public func count(verb: String, code: Int? = nil) -> Int {
        counts.withLock { counts in
            counts.filter { $0.key.verb == verb && (code == nil || $0.key.code == String(code!)) }.values.reduce(0, +)
        }
    }
}
