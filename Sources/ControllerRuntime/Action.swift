/// What a reconcile asks for next. Errors are not an Action: they go to the error policy
/// (per-key exponential backoff) by throwing.
public enum Action: Sendable, Equatable {
    /// Nothing to do until something watched changes.
    case awaitChange
    /// Look again after this many seconds even if nothing changes (polling what no watch sees).
    case requeue(after: Double)
}
