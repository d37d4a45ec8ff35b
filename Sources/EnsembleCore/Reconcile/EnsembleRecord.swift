/// An Ensemble as the operator caches it: identity, deletion state, the decoded and defaulted
/// spec (or why it does not decode) and the status last written. Decoding happens once per
/// watch event, not once per reconcile.
public struct EnsembleRecord: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var generation: Int
    /// For writes that must fail rather than clobber (finalizer patches).
    public var resourceVersion: String
    public var deleting: Bool
    public var finalizers: [String]
    /// The decoded, defaulted Ensemble; nil when the spec does not decode at all.
    public var ensemble: Ensemble?
    /// Validation problems (errors make the spec invalid; warnings are kept for events).
    public var problems: [Problem]
    public var status: EnsembleStatus?

    public var errors: [Problem] { problems.filter { $0.severity == .error } }

    public init(namespace: String, name: String, uid: String, generation: Int, resourceVersion: String = "", deleting: Bool = false,
                finalizers: [String] = [], ensemble: Ensemble?, problems: [Problem] = [], status: EnsembleStatus? = nil) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.generation = generation
        self.resourceVersion = resourceVersion
        self.deleting = deleting
        self.finalizers = finalizers
        self.ensemble = ensemble
        self.problems = problems
        self.status = status
    }

    /// From an Ensemble as the API server returns it. Metadata is trimmed to what decoding
    /// reads, so server-side fields (managedFields and the like) never reach the decoder.
    public init?(_ value: Value) {
        guard let meta = value["metadata"], let name = meta["name"]?.stringValue,
              let namespace = meta["namespace"]?.stringValue else { return nil }
        let uid = meta["uid"]?.stringValue ?? ""
        let generation = meta["generation"]?.intValue ?? 0
        var trimmedMeta: Value = ["name": .string(name), "namespace": .string(namespace), "uid": .string(uid), "generation": .int(generation)]
        if let labels = meta["labels"] { trimmedMeta["labels"] = labels }
        if let annotations = meta["annotations"] {
            // kubectl's last-applied copy repeats the whole spec: dropping it saves memory.
            var kept = annotations
            kept["kubectl.kubernetes.io/last-applied-configuration"] = nil
            trimmedMeta["annotations"] = kept
        }
        let document: Value = [
            "apiVersion": value["apiVersion"] ?? .string(EnsembleAPI.apiVersion), "kind": value["kind"] ?? .string(EnsembleAPI.kind),
            "metadata": trimmedMeta, "spec": value["spec"] ?? .null,
        ]
        let report = Validator.validate(document: SourceDocument(value: document, source: "\(namespace)/\(name)"))
        self.init(namespace: namespace, name: name, uid: uid, generation: generation,
                  resourceVersion: meta["resourceVersion"]?.stringValue ?? "", deleting: deletionRequested(meta),
                  finalizers: (meta["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue),
                  ensemble: report.ensemble, problems: report.problems, status: EnsembleStatus(value["status"]))
    }
}
