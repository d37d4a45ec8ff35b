/// Everything a ZooKeeper call can fail with: the server's error codes (KeeperException.Code
/// numbers on the wire) and the client's own failures (timeouts, broken frames, no server).
///
/// For a write (a reconfig above all) what matters is whether it may have happened:
/// `mayHaveBeenApplied` is false when the server refused the request or it never left this
/// client, and true when it was sent and its answer was lost (`connectionLoss`,
/// `timedOut(sent: true)`, `protocolViolation`); then re-read to learn the outcome.
public enum ZooKeeperError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    // Server codes, by their wire value.
    case systemError                    // -1
    case runtimeInconsistency           // -2
    case dataInconsistency              // -3
    /// The connection ended after the request was sent and before its reply (the peer closed,
    /// reset, fell silent or died in the middle of a frame, or the client was closed): it may
    /// or may not have been applied.
    case connectionLoss                 // -4
    case marshallingError               // -5
    case unimplemented                  // -6
    case operationTimeout               // -7
    case badArguments                   // -8
    case unknownSession                 // -12
    case newConfigNoQuorum              // -13
    case reconfigInProgress             // -14
    case apiError                       // -100
    case noNode                         // -101
    case noAuth                         // -102
    case badVersion                     // -103
    case noChildrenForEphemerals        // -108
    case nodeExists                     // -110
    case notEmpty                       // -111
    case sessionExpired                 // -112
    case invalidCallback                // -113
    case invalidACL                     // -114
    case authFailed                     // -115
    case sessionMoved                   // -118
    case notReadOnly                    // -119
    case ephemeralOnLocalSession        // -120
    case noWatcher                      // -121
    case requestTimeout                 // -122
    case reconfigDisabled               // -123
    case sessionClosedRequiresSASLAuth  // -124
    case quotaExceeded                  // -125
    case throttledOp                    // -127
    /// A code this client does not know.
    case unknown(code: Int32)

    // Client-side failures.
    /// No answer before the call's deadline. `sent`: the request was written, so the server may
    /// still apply it; otherwise it never left this client (no connection came up in time).
    case timedOut(operation: String, sent: Bool)
    /// The bytes received break ZooKeeper's protocol (an impossible frame length, a reply that
    /// does not decode). The connection is dropped; a request in flight on it may or may not
    /// have been applied. A peer that merely closes, even in the middle of a frame, is a
    /// `connectionLoss` instead.
    case protocolViolation(String)
    /// The reply is longer than `Options.maxFrameLength`: it was skipped (the connection stays
    /// up). The server answered, so the request was applied; raise the limit to read it.
    case replyTooLarge(operation: String, length: Int, limit: Int)
    /// No member accepted a session before the deadline; the text says why for each.
    case noServerAvailable(String)
    /// The path is not a valid znode path; nothing was sent.
    case invalidPath(String)
    case invalidArgument(String)
    /// `close()` was called (or the client was released) before the request was sent; the
    /// session is gone.
    case closed

    private static let table: [(Int32, ZooKeeperError)] = [
        (-1, .systemError), (-2, .runtimeInconsistency), (-3, .dataInconsistency), (-4, .connectionLoss),
        (-5, .marshallingError), (-6, .unimplemented), (-7, .operationTimeout), (-8, .badArguments),
        (-12, .unknownSession), (-13, .newConfigNoQuorum), (-14, .reconfigInProgress), (-100, .apiError),
        (-101, .noNode), (-102, .noAuth), (-103, .badVersion), (-108, .noChildrenForEphemerals),
        (-110, .nodeExists), (-111, .notEmpty), (-112, .sessionExpired), (-113, .invalidCallback),
        (-114, .invalidACL), (-115, .authFailed), (-118, .sessionMoved), (-119, .notReadOnly),
        (-120, .ephemeralOnLocalSession), (-121, .noWatcher), (-122, .requestTimeout),
        (-123, .reconfigDisabled), (-124, .sessionClosedRequiresSASLAuth), (-125, .quotaExceeded),
        (-127, .throttledOp),
    ]

    /// The error for a nonzero `ReplyHeader.err`.
    public init(code: Int32) {
        self = Self.table.first(where: { $0.0 == code })?.1 ?? .unknown(code: code)
    }

    /// The wire code of a server error; nil for client-side failures.
    public var code: Int32? {
        if case .unknown(let code) = self { return code }
        return Self.table.first(where: { $0.1 == self })?.0
    }

    /// Whether the server may have applied the request that failed with this error. False:
    /// certainly not applied (the server answered with an error, or the request was never
    /// written). True: the outcome is unknown; read the state back before retrying a write
    /// that must not happen twice.
    public var mayHaveBeenApplied: Bool {
        switch self {
        case .connectionLoss, .protocolViolation, .replyTooLarge, .operationTimeout, .requestTimeout: return true
        case .timedOut(_, let sent): return sent
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .systemError: return "system error"
        case .runtimeInconsistency: return "runtime inconsistency"
        case .dataInconsistency: return "data inconsistency"
        case .connectionLoss: return "connection lost after the request was sent (it may or may not have been applied)"
        case .marshallingError: return "marshalling error"
        case .unimplemented: return "operation not implemented by the server"
        case .operationTimeout: return "operation timed out on the server"
        case .badArguments: return "bad arguments"
        case .unknownSession: return "unknown session"
        case .newConfigNoQuorum: return "no quorum of the new configuration is connected and synced"
        case .reconfigInProgress: return "another reconfiguration is in progress"
        case .apiError: return "API error"
        case .noNode: return "no such node"
        case .noAuth: return "not authorized"
        case .badVersion: return "version mismatch"
        case .noChildrenForEphemerals: return "ephemeral nodes cannot have children"
        case .nodeExists: return "node already exists"
        case .notEmpty: return "node has children"
        case .sessionExpired: return "session expired"
        case .invalidCallback: return "invalid callback"
        case .invalidACL: return "invalid ACL"
        case .authFailed: return "authentication failed"
        case .sessionMoved: return "session moved to another server"
        case .notReadOnly: return "not a read-only call"
        case .ephemeralOnLocalSession: return "ephemeral node on a local session"
        case .noWatcher: return "no such watcher"
        case .requestTimeout: return "request timed out"
        case .reconfigDisabled: return "reconfiguration is disabled (reconfigEnabled=false)"
        case .sessionClosedRequiresSASLAuth: return "session closed: SASL authentication required"
        case .quotaExceeded: return "quota exceeded"
        case .throttledOp: return "operation throttled by the server"
        case .unknown(let code): return "server error code \(code)"
        case .timedOut(let operation, true): return "\(operation) timed out waiting for the reply (it may still be applied)"
        case .timedOut(let operation, false): return "\(operation) timed out before it could be sent (no connection; not applied)"
        case .protocolViolation(let text): return "protocol violation: \(text)"
        case .replyTooLarge(let operation, let length, let limit):
            return "\(operation): the reply of \(length) bytes exceeds the client's limit of \(limit) bytes (maxFrameLength); the server answered, so it was applied"
        case .noServerAvailable(let text): return "no ZooKeeper server available: \(text)"
        case .invalidPath(let text): return "invalid path: \(text)"
        case .invalidArgument(let text): return "invalid argument: \(text)"
        case .closed: return "client closed"
        }
    }
}
