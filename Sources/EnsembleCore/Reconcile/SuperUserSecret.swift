import ZKConfig

/// The Secret holding a ZooKeeper Ensemble's super user, the identity the operator
/// reconfigures the members with (never `skipACL`). The operator creates it once, with a
/// random password, owned by the Ensemble (so it goes with it) and immutable; it is never
/// regenerated while it exists. Members read the digest from it through SERVER_JVMFLAGS; the
/// operator authenticates with the password. Neither appears in logs, events or status.
public enum SuperUserSecret {
    public static let passwordKey = "password"
    /// `-Dzookeeper.DigestAuthenticationProvider.superDigest=super:<digest>`, for SERVER_JVMFLAGS.
    public static let jvmFlagsKey = "server-jvmflags"

    /// The Secret to create for `ensemble` (which needs its uid: the owner reference).
    public static func render(_ ensemble: Ensemble, superUser: SuperUser) -> Value {
        let context = RenderContext(ensemble: ensemble, options: RenderOptions())
        return [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": context.metadata(context.names.superUserSecret),
            "type": "Opaque",
            "immutable": true,
            "data": .object(Object([
                (passwordKey, .string(Base64.encode(Array(superUser.password.utf8)))),
                (jvmFlagsKey, .string(Base64.encode(Array(superUser.jvmOption.utf8)))),
            ])),
        ]
    }

    /// This Ensemble's Secret among `secrets`: its name, controlled by the Ensemble. nil when
    /// there is none (another owner's Secret of that name is not ours to use).
    public static func owned(by record: EnsembleRecord, in secrets: [ObservedSecret]) -> ObservedSecret? {
        let name = "\(record.name)-super-user"
        return secrets.first { $0.namespace == record.namespace && $0.name == name && $0.controllerUID == record.uid }
    }

    /// Whether the operator creates the Secret now: a valid ZooKeeper Ensemble, not being
    /// deleted, without one.
    public static func needed(_ record: EnsembleRecord, secrets: [ObservedSecret]) -> Bool {
        guard !record.deleting, let ensemble = record.ensemble, record.errors.isEmpty, ensemble.spec.engine == .zooKeeper else { return false }
        return owned(by: record, in: secrets) == nil
    }

    /// What rendering refers to: nil without a usable Secret.
    public static func reference(_ secret: ObservedSecret?) -> SuperUserReference? {
        guard let secret, let superUser = secret.superUser else { return nil }
        return SuperUserReference(secretName: secret.name, superUser: superUser)
    }
}
