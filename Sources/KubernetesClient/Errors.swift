import EnsembleCore

/// The API server's `Status` object: what a failed request (or a watch ERROR event) said.
public struct APIStatus: Sendable, Equatable, CustomStringConvertible {
    /// HTTP status code (404, 409, 410, 422, ...).
    public var code: Int
    /// Machine-readable reason: NotFound, AlreadyExists, Conflict, Gone, Expired, Invalid,
    /// Forbidden, Unauthorized, TooManyRequests, InternalError, Timeout, ...
    public var reason: String
    public var message: String
    /// `details` as sent (name, group, kind, causes with field paths), if any.
    public var details: Value?

    public init(code: Int, reason: String, message: String, details: Value? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// Reads a `Status` object; nil when the value is not one.
    public init?(_ value: Value) {
        guard value["kind"]?.stringValue == "Status" else { return nil }
        code = value["code"]?.intValue ?? 0
        reason = value["reason"]?.stringValue ?? ""
        message = value["message"]?.stringValue ?? ""
        details = value["details"]
    }

    public var description: String {
        "\(code) \(reason.isEmpty ? "(no reason)" : reason): \(message)"
    }
}

/// Everything a Kubernetes request can fail with.
public enum KubernetesError: Error, Sendable, CustomStringConvertible {
    /// The API server answered with an error status (its Status object, or one made from the
    /// HTTP status when the body was not a Status).
    case api(method: String, path: String, status: APIStatus)
    /// No answer: connection refused, TLS failure (untrusted server, bad client certificate),
    /// reset. `curlCode` is libcurl's error number.
    case transport(method: String, path: String, curlCode: Int, message: String)
    /// The request's deadline passed before the answer was complete.
    case deadlineExceeded(method: String, path: String, seconds: Double)
    /// The answer was not what the API promises (not JSON, wrong shape, too large).
    case invalidResponse(method: String, path: String, message: String)
    /// Kubeconfig, in-cluster files or options are unusable; names the file and field.
    case configuration(String)
    /// A credential could not be obtained (token file unreadable, exec plugin failed).
    case credentials(String)

    public var description: String {
        switch self {
        case .api(let method, let path, let status):
            return "\(method) \(path): \(status)"
        case .transport(let method, let path, let code, let message):
            return "\(method) \(path): \(message) (libcurl error \(code))"
        case .deadlineExceeded(let method, let path, let seconds):
            return "\(method) \(path): no complete answer within the \(formatSeconds(seconds)) s deadline"
        case .invalidResponse(let method, let path, let message):
            return "\(method) \(path): invalid response: \(message)"
        case .configuration(let message):
            return "Kubernetes client configuration: \(message)"
        case .credentials(let message):
            return "Kubernetes credentials: \(message)"
        }
    }

    /// The API status, for `.api` errors.
    public var status: APIStatus? {
        if case .api(_, _, let status) = self { return status }
        return nil
    }

    public var isNotFound: Bool { status?.code == 404 }
    public var isConflict: Bool { status?.code == 409 && status?.reason != "AlreadyExists" }
    public var isAlreadyExists: Bool { status?.reason == "AlreadyExists" }
    /// 410: the resourceVersion or continue token is too old; list afresh.
    public var isGone: Bool { status?.code == 410 }
    public var isInvalid: Bool { status?.code == 422 }
    public var isUnauthorized: Bool { status?.code == 401 }
    /// Worth retrying after a pause: 429, 5xx, transport failures, deadlines.
    public var isTransient: Bool {
        switch self {
        case .api(_, _, let status): return status.code == 429 || status.code >= 500
        case .transport, .deadlineExceeded: return true
        default: return false
        }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}
