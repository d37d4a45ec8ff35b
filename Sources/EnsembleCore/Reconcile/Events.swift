/// A Kubernetes Event about the Ensemble.
public struct EnsembleEvent: Equatable, Sendable {
    public enum Kind: String, Sendable { case normal = "Normal", warning = "Warning" }
    public var type: Kind
    public var reason: String
    public var message: String

    public init(_ type: Kind, _ reason: String, _ message: String) {
        self.type = type
        self.reason = reason
        self.message = message
    }
}

/// Events are written on transitions only: a reconcile that changes nothing says nothing.
public enum TransitionEvents {
    public static func between(_ previous: EnsembleStatus?, _ next: EnsembleStatus, changes: [ChildChange]) -> [EnsembleEvent] {
        // One event per kind of change, naming every child: a thousand new Ensembles cost a
        // thousand events, not five thousand.
        var events: [EnsembleEvent] = []
        for (created, reason) in [(true, "Created"), (false, "Updated")] {
            let names = changes.filter { $0.created == created }.map { "\($0.kind.rawValue) \($0.name)" }
            if !names.isEmpty { events.append(EnsembleEvent(.normal, reason, "\(created ? "created" : "updated") \(names.joined(separator: ", "))")) }
        }
        func flipped(_ kind: Condition.Kind) -> Condition? {
            guard let new = next.condition(kind) else { return nil }
            let old = previous?.condition(kind)
            let changed = old?.status != new.status || old?.reason != new.reason
                || (new.reason == StatusComputation.reasonInvalidSpec && old?.message != new.message)
            return changed ? new : nil
        }
        if let available = flipped(.available), previous?.condition(.available)?.status != available.status {
            switch available.status {
            case .isTrue: events.append(EnsembleEvent(.normal, "Available", available.message))
            case .isFalse where previous?.condition(.available)?.status == .isTrue:
                events.append(EnsembleEvent(.warning, available.reason, available.message))
            default: break
            }
        }
        if let degraded = flipped(.degraded) {
            if degraded.status == .isTrue {
                events.append(EnsembleEvent(.warning, degraded.reason, degraded.message))
            } else if previous?.condition(.degraded)?.status == .isTrue {
                events.append(EnsembleEvent(.normal, "Recovered", degraded.message))
            }
        }
        if let progressing = flipped(.progressing), progressing.reason == "ScalingHeld" {
            events.append(EnsembleEvent(.warning, progressing.reason, progressing.message))
        }
        if let leader = next.leader, leader != previous?.leader {
            let was = previous?.leader.map { " (was \($0))" } ?? ""
            events.append(EnsembleEvent(.normal, "LeaderElected", "\(leader) is the leader\(was)"))
        }
        return events
    }
}
