/// The volume-claim finalizer: present only while `spec.storage.reclaimPolicy` is Delete, so
/// an Ensemble that keeps its volumes never waits for the operator to go away.
public enum ClaimFinalizer {
    public static let name = "ensemble.dev/delete-volume-claims"

    /// What to do with the finalizer now: the four cases of (has it?) x (being deleted?), with
    /// "wanted" deciding the not-deleted ones.
    public enum Step: Equatable, Sendable {
        /// Nothing to do with the finalizer; reconcile normally (or, when deleting, let the
        /// garbage collector remove the children).
        case none
        /// Add it before anything else, so a deletion from now on waits for the clean-up.
        case add
        /// The policy no longer asks for clean-up: drop it.
        case remove
        /// Being deleted with the finalizer: delete these claims, then remove the finalizer.
        /// Clean-up never waits for the claims to disappear (they go when their pods go) and
        /// never retries forever, so it cannot hold up a namespace's deletion.
        case cleanUp(claims: [String])
    }

    public static func step(hasFinalizer: Bool, deleting: Bool, wanted: Bool, claims: [ObservedClaim]) -> Step {
        switch (hasFinalizer, deleting) {
        case (false, false): return wanted ? .add : .none
        case (true, false): return wanted ? .none : .remove
        case (true, true): return .cleanUp(claims: claims.filter { !$0.deleting }.map(\.name).sorted())
        case (false, true): return .none
        }
    }

    /// The claims of one Ensemble: its instance label, and a name the StatefulSet's claim
    /// template gives (`data-<name>-<ordinal>`), so another application's claim that happens to
    /// share the label is never deleted.
    public static func claims(of name: String, in claims: [ObservedClaim]) -> [ObservedClaim] {
        claims.filter { claim in claim.instance == name && ordinal(ofClaim: claim.name, statefulSet: name) != nil }
    }

    /// The ordinal of a claim the StatefulSet's template names `data-<statefulSet>-<ordinal>`.
    public static func ordinal(ofClaim claim: String, statefulSet: String) -> Int? {
        let prefix = "data-\(statefulSet)-"
        return claim.hasPrefix(prefix) ? Int(claim.dropFirst(prefix.count)) : nil
    }
}
