import ZKConfig

/// The Ensemble's `status`, typed. What the operator writes, and what it reads back from the
/// API server to decide whether a write is needed at all.
public struct EnsembleStatus: Equatable, Sendable {
    public enum Phase: String, Sendable, CaseIterable {
        /// Nothing created yet.
        case pending = "Pending"
        /// Members are starting; the ensemble has not served yet.
        case creating = "Creating"
        /// Every member ready and on the current revision.
        case running = "Running"
        /// Members run an older revision (a roll is pending or under way), or a change is held.
        case updating = "Updating"
        /// Fewer members ready than wanted after the ensemble served.
        case degraded = "Degraded"
        /// The spec cannot be rendered; nothing that runs was touched.
        case invalid = "Invalid"
    }

    public struct Member: Equatable, Sendable {
        public var name: String
        public var ordinal: Int
        public var ready: Bool
        public var revision: String
        /// ZooKeeper: leader, follower, observer, standalone, read-only, or unknown.
        public var role: String?
        /// ZooKeeper: the last zxid the member reported, "0x..." hexadecimal.
        public var zxid: String?
        /// Cassandra: the CQL versions the member's OPTIONS answer lists.
        public var cqlVersion: String?
        /// Why the member gave no answer, when it did not.
        public var message: String?

        public init(name: String, ordinal: Int, ready: Bool, revision: String, role: String? = nil, zxid: String? = nil,
                    cqlVersion: String? = nil, message: String? = nil) {
            self.name = name
            self.ordinal = ordinal
            self.ready = ready
            self.revision = revision
            self.role = role
            self.zxid = zxid
            self.cqlVersion = cqlVersion
            self.message = message
        }
    }

    /// ZooKeeper: the membership as the operator last read it (`/zookeeper/config`).
    public struct Membership: Equatable, Sendable {
        public struct Server: Equatable, Sendable {
            /// The server id (`myid`): ordinal + 1.
            public var id: Int
            /// The member's pod.
            public var member: String
            /// participant (votes) or observer.
            public var role: String

            public init(id: Int, member: String, role: String) {
                self.id = id
                self.member = member
                self.role = role
            }
        }

        /// `0x` and the configuration version in hexadecimal, as ZooKeeper prints it.
        public var version: String
        public var servers: [Server]

        public init(version: String, servers: [Server]) {
            self.version = version
            self.servers = servers
        }

        public init(_ config: DynamicConfig, names: EnsembleNames) {
            self.init(version: config.versionText,
                      servers: config.servers.map { Server(id: $0.id, member: names.pod($0.ordinal), role: $0.role.rawValue) })
        }
    }

    /// A roll or a scale under way: the step the operator is at. Its wait's start is kept here
    /// so a timeout survives an operator restart; the reason and message are the Progressing
    /// (or, when blocked, the Degraded) condition's.
    public struct MemberChange: Equatable, Sendable {
        /// "Roll" or "Scaling".
        public var activity: String
        /// What the operator does or waits for now, e.g. "restart zk-2", "wait for zk-2".
        public var step: String
        /// The revision members are rolled to.
        public var targetRevision: String?
        /// ZooKeeper: "on", or why the leader restarts in place (the others elect once it is down).
        public var leaderHandOff: String?
        /// The wait under way (`StepClock.step`) and since when (RFC 3339).
        public var waitingFor: String?
        public var waitingSince: String?
        /// `server.N=...` lines of members the operator took out of the configuration (a
        /// leader hand-off) and adds back as they were; kept until the change is over.
        public var leftConfiguration: [String]

        public init(activity: String, step: String, targetRevision: String? = nil, leaderHandOff: String? = nil,
                    waitingFor: String? = nil, waitingSince: String? = nil, leftConfiguration: [String] = []) {
            self.activity = activity
            self.step = step
            self.targetRevision = targetRevision
            self.leaderHandOff = leaderHandOff
            self.waitingFor = waitingFor
            self.waitingSince = waitingSince
            self.leftConfiguration = leftConfiguration
        }
    }

    public var observedGeneration: Int
    public var phase: Phase
    public var replicas: Int
    public var readyReplicas: Int
    public var updatedReplicas: Int
    public var leader: String?
    public var selector: String
    public var currentRevision: String?
    public var updateRevision: String?
    public var members: [Member]
    public var memberChange: MemberChange?
    public var membership: Membership?
    public var conditions: [Condition]

    public init(observedGeneration: Int, phase: Phase, replicas: Int = 0, readyReplicas: Int = 0, updatedReplicas: Int = 0,
                leader: String? = nil, selector: String = "", currentRevision: String? = nil, updateRevision: String? = nil,
                members: [Member] = [], memberChange: MemberChange? = nil, membership: Membership? = nil, conditions: [Condition] = []) {
        self.observedGeneration = observedGeneration
        self.phase = phase
        self.replicas = replicas
        self.readyReplicas = readyReplicas
        self.updatedReplicas = updatedReplicas
        self.leader = leader
        self.selector = selector
        self.currentRevision = currentRevision
        self.updateRevision = updateRevision
        self.members = members
        self.memberChange = memberChange
        self.membership = membership
        self.conditions = conditions
    }

    public func condition(_ kind: Condition.Kind) -> Condition? { conditions.first { $0.type == kind } }

    /// The status as the API stores it (the `status` subresource's body).
    public var value: Value {
        var v: Value = [
            "observedGeneration": .int(observedGeneration), "phase": .string(phase.rawValue),
            "replicas": .int(replicas), "readyReplicas": .int(readyReplicas), "updatedReplicas": .int(updatedReplicas),
            "leader": leader.map(Value.string) ?? .null, "selector": .string(selector),
            "currentRevision": currentRevision.map(Value.string) ?? .null,
            "updateRevision": updateRevision.map(Value.string) ?? .null,
        ]
        v["members"] = .array(members.map { m in
            [
                "name": .string(m.name), "ordinal": .int(m.ordinal), "ready": .bool(m.ready), "revision": .string(m.revision),
                "role": m.role.map(Value.string) ?? .null, "zxid": m.zxid.map(Value.string) ?? .null,
                "cqlVersion": m.cqlVersion.map(Value.string) ?? .null, "message": m.message.map(Value.string) ?? .null,
            ]
        })
        if let change = memberChange {
            v["memberChange"] = [
                "activity": .string(change.activity), "step": .string(change.step),
                "targetRevision": change.targetRevision.map(Value.string) ?? .null,
                "leaderHandOff": change.leaderHandOff.map(Value.string) ?? .null,
                "waitingFor": change.waitingFor.map(Value.string) ?? .null,
                "waitingSince": change.waitingSince.map(Value.string) ?? .null,
                "leftConfiguration": change.leftConfiguration.isEmpty ? .null : .array(change.leftConfiguration.map(Value.string)),
            ]
        }
        if let membership {
            v["membership"] = [
                "version": .string(membership.version),
                "servers": .array(membership.servers.map { ["id": .int($0.id), "member": .string($0.member), "role": .string($0.role)] }),
            ]
        }
        v["conditions"] = .array(conditions.map(\.value))
        return v.pruned()
    }

    /// Reads a stored status; nil when there is none or it is not ours (no phase).
    public init?(_ value: Value?) {
        guard let value, let phase = value["phase"]?.stringValue.flatMap(Phase.init(rawValue:)) else { return nil }
        self.init(
            observedGeneration: value["observedGeneration"]?.intValue ?? 0, phase: phase,
            replicas: value["replicas"]?.intValue ?? 0, readyReplicas: value["readyReplicas"]?.intValue ?? 0,
            updatedReplicas: value["updatedReplicas"]?.intValue ?? 0, leader: value["leader"]?.stringValue,
            selector: value["selector"]?.stringValue ?? "", currentRevision: value["currentRevision"]?.stringValue,
            updateRevision: value["updateRevision"]?.stringValue,
            members: (value["members"]?.arrayValue ?? []).map { m in
                Member(name: m["name"]?.stringValue ?? "", ordinal: m["ordinal"]?.intValue ?? 0, ready: m["ready"]?.boolValue ?? false,
                       revision: m["revision"]?.stringValue ?? "", role: m["role"]?.stringValue, zxid: m["zxid"]?.stringValue,
                       cqlVersion: m["cqlVersion"]?.stringValue, message: m["message"]?.stringValue)
            },
            memberChange: value["memberChange"].flatMap { c -> MemberChange? in
                guard let activity = c["activity"]?.stringValue, let step = c["step"]?.stringValue else { return nil }
                return MemberChange(activity: activity, step: step, targetRevision: c["targetRevision"]?.stringValue,
                                    leaderHandOff: c["leaderHandOff"]?.stringValue, waitingFor: c["waitingFor"]?.stringValue,
                                    waitingSince: c["waitingSince"]?.stringValue,
                                    leftConfiguration: (c["leftConfiguration"]?.arrayValue ?? []).compactMap(\.stringValue))
            },
            membership: value["membership"].flatMap { m -> Membership? in
                guard let version = m["version"]?.stringValue else { return nil }
                return Membership(version: version, servers: (m["servers"]?.arrayValue ?? []).compactMap { server in
                    guard let id = server["id"]?.intValue else { return nil }
                    return .init(id: id, member: server["member"]?.stringValue ?? "", role: server["role"]?.stringValue ?? "")
                })
            },
            conditions: (value["conditions"]?.arrayValue ?? []).compactMap(Condition.init))
    }
}
