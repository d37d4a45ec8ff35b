import EnsembleCore

/// A label selector (`app=zk,tier!=cache,env in (a,b),!legacy`), built from requirements so
/// values are never spliced into a string by hand.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, [String])
        case notIn(String, [String])
        case exists(String)
        case doesNotExist(String)
    }

    public var requirements: [Requirement]

    public init(_ requirements: [Requirement] = []) { self.requirements = requirements }

    /// Every label in `labels` must match exactly (what a StatefulSet's matchLabels means).
    public init(matching labels: [String: String]) {
        requirements = labels.keys.sorted().map { .equals($0, labels[$0]!) }
    }

    /// The query-string form the API server parses.
    public var description: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let key, let value): return "\(key)=\(value)"
            case .notEquals(let key, let value): return "\(key)!=\(value)"
            case .in(let key, let values): return "\(key) in (\(values.joined(separator: ",")))"
            case .notIn(let key, let values): return "\(key) notin (\(values.joined(separator: ",")))"
            case .exists(let key): return key
            case .doesNotExist(let key): return "!\(key)"
            }
        }.joined(separator: ",")
    }
}

/// The selector parameters lists and watches share.
private func selectorQuery(_ labels: LabelSelector?, _ fields: String?) -> [(String, String)] {
    var query: [(String, String)] = []
    if let labels, !labels.requirements.isEmpty { query.append(("labelSelector", labels.description)) }
    if let fields { query.append(("fieldSelector", fields)) }
    return query
}

public struct ListOptions: Sendable, Equatable {
    public var labelSelector: LabelSelector?
    /// e.g. "metadata.name=zk".
    public var fieldSelector: String?
    /// Page size; the server returns a continue token when more remain.
    public var limit: Int?
    public var continueToken: String?
    /// "0" lets the server answer from its cache; nil asks for the latest (a quorum read).
    public var resourceVersion: String?

    public init(labelSelector: LabelSelector? = nil, fieldSelector: String? = nil, limit: Int? = nil,
                continueToken: String? = nil, resourceVersion: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }

    var query: [(String, String)] {
        var query = selectorQuery(labelSelector, fieldSelector)
        if let limit { query.append(("limit", String(limit))) }
        if let continueToken { query.append(("continue", continueToken)) }
        if let resourceVersion { query.append(("resourceVersion", resourceVersion)) }
        return query
    }
}

public struct WatchOptions: Sendable, Equatable {
    public var labelSelector: LabelSelector?
    public var fieldSelector: String?
    /// Events after this version; nil or "0" starts with synthetic ADDED events for what exists.
    public var resourceVersion: String?
    /// Ask for BOOKMARK events, which advance the resourceVersion without a change.
    public var allowBookmarks: Bool
    /// The server ends the watch after this long (client-go uses 5-10 min); the client's
    /// deadline for the stream is this plus `ClientConfiguration.requestTimeout`.
    public var timeoutSeconds: Int

    public init(labelSelector: LabelSelector? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
                allowBookmarks: Bool = true, timeoutSeconds: Int = 290) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resourceVersion = resourceVersion
        self.allowBookmarks = allowBookmarks
        self.timeoutSeconds = timeoutSeconds
    }

    var query: [(String, String)] {
        var query = [("watch", "true")] + selectorQuery(labelSelector, fieldSelector)
        if let resourceVersion { query.append(("resourceVersion", resourceVersion)) }
        if allowBookmarks { query.append(("allowWatchBookmarks", "true")) }
        query.append(("timeoutSeconds", String(timeoutSeconds)))
        return query
    }
}

/// Server-side apply options.
public struct ApplyOptions: Sendable, Equatable {
    /// The field manager that owns what this apply sets; the operator's is `ensemble-operator`.
    public var fieldManager: String
    /// Take fields another manager owns instead of failing with 409 Conflict. Only for
    /// fields we own by contract (our children's spec); never for fields users may set.
    public var force: Bool
    public var dryRun: Bool

    public init(fieldManager: String = ApplyOptions.operatorFieldManager, force: Bool = false, dryRun: Bool = false) {
        self.fieldManager = fieldManager
        self.force = force
        self.dryRun = dryRun
    }

    public static let operatorFieldManager = "ensemble-operator"
}

public enum PatchType: String, Sendable {
    /// RFC 7386 JSON merge patch.
    case merge = "application/merge-patch+json"
    /// RFC 6902 JSON patch (with `test` operations for patches that fail rather than clobber).
    case json = "application/json-patch+json"
    /// Strategic merge patch (built-in types only).
    case strategicMerge = "application/strategic-merge-patch+json"
}

public struct DeleteOptions: Sendable, Equatable {
    public enum PropagationPolicy: String, Sendable {
        /// Delete the object now, its dependents after (the default for most kinds).
        case background = "Background"
        /// Delete dependents first; the object stays (with a finalizer) until they are gone.
        case foreground = "Foreground"
        /// Leave dependents, removing their owner references.
        case orphan = "Orphan"
    }

    /// Delete only if the object still has this uid (not a re-created namesake).
    public var preconditionUID: String?
    /// Delete only if nothing changed since this version (409 otherwise).
    public var preconditionResourceVersion: String?
    public var propagationPolicy: PropagationPolicy?
    public var gracePeriodSeconds: Int?

    public init(preconditionUID: String? = nil, preconditionResourceVersion: String? = nil,
                propagationPolicy: PropagationPolicy? = nil, gracePeriodSeconds: Int? = nil) {
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
    }

    var body: Value {
        var object = Object([("apiVersion", "v1"), ("kind", "DeleteOptions")])
        var preconditions = Object()
        if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
        if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
        if !preconditions.isEmpty { object["preconditions"] = .object(preconditions) }
        if let propagationPolicy { object["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        if let gracePeriodSeconds { object["gracePeriodSeconds"] = .int(gracePeriodSeconds) }
        return .object(object)
    }
}

/// What a delete returned: the object when it stays (finalizers pending, foreground
/// deletion), or nothing when it is gone.
public enum DeleteResult: Sendable, Equatable {
    case deleted
    case pending(KubeObject)
}

/// An events.k8s.io/v1 Event about an object.
public struct EventRecord: Sendable, Equatable {
    public enum EventType: String, Sendable { case normal = "Normal", warning = "Warning" }

    public var regarding: KubeObject
    public var type: EventType
    /// CamelCase, e.g. "InvalidSpec", "RollStarted".
    public var reason: String
    /// What the operator was doing, e.g. "Reconcile", "Roll".
    public var action: String
    public var note: String
    public var reportingController: String
    public var reportingInstance: String

    public init(regarding: KubeObject, type: EventType, reason: String, action: String, note: String,
                reportingController: String = "ensemble.dev/ensemble-operator", reportingInstance: String) {
        self.regarding = regarding
        self.type = type
        self.reason = reason
        self.action = action
        self.note = note
        self.reportingController = reportingController
        self.reportingInstance = reportingInstance
    }
}
