/// A status condition as Kubernetes conventions define it (`metav1.Condition`).
public struct Condition: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case available = "Available", progressing = "Progressing", degraded = "Degraded"
    }
    public enum State: String, Sendable {
        case isTrue = "True", isFalse = "False", unknown = "Unknown"
    }

    public var type: Kind
    public var status: State
    public var reason: String
    public var message: String
    public var observedGeneration: Int
    /// RFC 3339; moves only when `status` flips, so "since when" stays true across rewrites.
    public var lastTransitionTime: String

    public init(type: Kind, status: State, reason: String, message: String, observedGeneration: Int, lastTransitionTime: String) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
    }

    /// `new`, keeping the transition time of `previous` when the status did not flip.
    public static func carryingTransition(_ new: Condition, from previous: [Condition]) -> Condition {
        guard let old = previous.first(where: { $0.type == new.type }), old.status == new.status else { return new }
        var result = new
        result.lastTransitionTime = old.lastTransitionTime
        return result
    }

    var value: Value {
        [
            "type": .string(type.rawValue), "status": .string(status.rawValue), "reason": .string(reason),
            "message": .string(message), "observedGeneration": .int(observedGeneration),
            "lastTransitionTime": .string(lastTransitionTime),
        ]
    }

    init?(_ value: Value) {
        guard let type = value["type"]?.stringValue.flatMap(Kind.init(rawValue:)),
              let status = value["status"]?.stringValue.flatMap(State.init(rawValue:)) else { return nil }
        self.init(type: type, status: status, reason: value["reason"]?.stringValue ?? "", message: value["message"]?.stringValue ?? "",
                  observedGeneration: value["observedGeneration"]?.intValue ?? 0,
                  lastTransitionTime: value["lastTransitionTime"]?.stringValue ?? "")
    }
}
