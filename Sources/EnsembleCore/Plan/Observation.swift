import ZKConfig

// What the roll and membership planners read and return. Every input is a plain observation
// that both environments can make (the operator from the API server, four-letter words and
// `/zookeeper/config`; local mode from its processes and the same words), and every output is
// an action both can perform. Time is an input too: the planners never read a clock.

/// A ZooKeeper transaction id: the leader epoch in the high 32 bits, a counter in the low 32.
public struct Zxid: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var raw: UInt64

    public init(_ raw: UInt64) { self.raw = raw }
    public init(epoch: UInt32, counter: UInt32) { raw = UInt64(epoch) << 32 | UInt64(counter) }

    public var epoch: UInt32 { UInt32(raw >> 32) }
    public var counter: UInt32 { UInt32(truncatingIfNeeded: raw) }
    public var description: String { "0x" + String(raw, radix: 16) }

    public static func < (a: Zxid, b: Zxid) -> Bool { a.raw < b.raw }
}

/// What a ZooKeeper member answers to `srvr`.
public enum MemberRole: String, Sendable, CaseIterable {
    case leader, follower, observer, standalone
    /// Answers, but "is not currently serving requests" (electing, syncing, outside a quorum).
    case notServing = "not serving"
}

/// A Cassandra node as `nodetool status` shows it: Up/Down and Normal/Leaving/Joining/Moving.
public struct RingStatus: Hashable, Sendable, CustomStringConvertible {
    public enum State: String, Sendable { case normal = "N", leaving = "L", joining = "J", moving = "M" }
    public var up: Bool
    public var state: State

    public init(up: Bool, state: State) { self.up = up; self.state = state }

    public static let upNormal = RingStatus(up: true, state: .normal)
    public var description: String { (up ? "U" : "D") + state.rawValue }
}

/// One member as observed right now.
public struct MemberObservation: Equatable, Sendable {
    /// StatefulSet ordinal (ZooKeeper server id = ordinal + 1).
    public var ordinal: Int
    /// How messages name it: the pod name, or the local member's address.
    public var name: String
    /// The member has been created: its pod object exists (Kubernetes) or local mode supervises
    /// its process. A crashed container or process still exists; a deleted pod does not.
    public var exists: Bool
    /// Deletion or a stop was requested and the old process may still run.
    public var terminating: Bool
    /// Revision (configuration hash) the member runs; nil when unknown or missing.
    public var revision: String?
    /// The readiness probe passes (ZooKeeper: serving inside a quorum; Cassandra: CQL answers).
    public var ready: Bool
    /// Its admin port answered `srvr` within the deadline.
    public var reachable: Bool
    /// What `srvr` said; ignored when not reachable.
    public var role: MemberRole
    /// Last zxid the member has seen (`srvr`), nil when unknown.
    public var zxid: Zxid?
    /// When the member was last (re)started at its current revision: the pod's creation time
    /// (Kubernetes; not the container's, which a crash loop keeps resetting) or the start
    /// local mode recorded. Waits for a member that does not serve count from here, so they
    /// survive an operator restart. nil: unknown (the wait counts from the step clock).
    public var startedAt: Duration?
    /// Its persistent volume (PVC, or local data directory) exists.
    public var hasVolume: Bool
    /// Cassandra: its line in `nodetool status`; nil when the ring does not list it.
    public var ring: RingStatus?

    /// Omitted values follow from the others: `ready` and `reachable` from a serving `role`
    /// (pass `ready` for Cassandra), `hasVolume` from `exists`, `name` is "member N".
    public init(
        ordinal: Int, name: String? = nil, exists: Bool = true, terminating: Bool = false, revision: String? = nil,
        ready: Bool? = nil, reachable: Bool? = nil, role: MemberRole = .notServing, zxid: Zxid? = nil,
        startedAt: Duration? = nil, hasVolume: Bool? = nil, ring: RingStatus? = nil
    ) {
        self.ordinal = ordinal
        self.name = name ?? "member \(ordinal)"
        self.exists = exists
        self.terminating = terminating
        self.revision = revision
        self.reachable = reachable ?? (exists && role != .notServing)
        self.role = role
        self.ready = ready ?? (exists && role != .notServing)
        self.zxid = zxid
        self.startedAt = startedAt
        self.hasVolume = hasVolume ?? exists
        self.ring = ring
    }

    /// A member with no pod or process at all.
    public static func missing(ordinal: Int, name: String? = nil, hasVolume: Bool = false) -> MemberObservation {
        MemberObservation(ordinal: ordinal, name: name, exists: false, ready: false, reachable: false, hasVolume: hasVolume)
    }

    /// The role that counts: nothing serves when the member is gone or unreachable.
    public var servingRole: MemberRole { exists && reachable && !terminating ? role : .notServing }
}

/// Everything the planners read about one ensemble at one moment.
public struct EnsembleObservation: Equatable, Sendable {
    /// Members in any order; ordinals the planner expects but finds no entry for count as
    /// missing. Include every ordinal that has a volume (a PVC), even without a pod: the
    /// membership planner cleans up volumes it is told about.
    public var members: [MemberObservation]
    /// ZooKeeper: `/zookeeper/config` as last read, nil when it could not be read.
    public var config: DynamicConfig?
    /// ZooKeeper: `zk_synced_followers` as the leader reports it (voting followers in sync);
    /// nil when no leader answered `mntr`.
    public var syncedFollowers: Int?
    /// Cassandra: `nodetool status` could be read, so a nil `ring` means "not in the ring".
    public var ringKnown: Bool
    /// Now, as an offset from a fixed origin (the Unix epoch in both environments).
    public var now: Duration
    /// How messages name a member nothing was observed for (one about to start): this prefix
    /// and the ordinal, e.g. `zk-` gives `zk-3`; nil gives `member 3`.
    public var namePrefix: String?

    public init(members: [MemberObservation], config: DynamicConfig? = nil, syncedFollowers: Int? = nil,
                ringKnown: Bool = false, now: Duration, namePrefix: String? = nil) {
        self.members = members
        self.config = config
        self.syncedFollowers = syncedFollowers
        self.ringKnown = ringKnown
        self.now = now
        self.namePrefix = namePrefix
    }
}

/// When the step a planner is waiting in began. The planners return it with every wait; the
/// shell keeps it (in the Ensemble's status, or in memory for local mode) and passes it back.
/// Losing it is safe: the wait then counts from the next decision, so a timeout fires later,
/// never earlier, and nothing is restarted that observations alone would not restart.
public struct StepClock: Equatable, Sendable {
    /// Identifies the step, e.g. `rejoin 2 @ 5f3a`; a different step starts a new clock.
    public var step: String
    public var since: Duration

    public init(step: String, since: Duration) { self.step = step; self.since = since }
}

/// The next thing to do to an ensemble: one step at a time, for the shell to perform.
public enum PlanAction: Equatable, Sendable {
    /// Make the member run the desired revision: delete its pod (the StatefulSet recreates it,
    /// also when it is missing) or stop its process and start it with the new configuration.
    case restart(ordinal: Int)
    /// Create the member: raise the StatefulSet's replicas to at least ordinal + 1 (nothing to
    /// do when they already are: the StatefulSet recreates a missing pod itself), or start the
    /// process. A ZooKeeper member starts with the live configuration plus itself as a
    /// participant, so it joins as a non-voting follower until it is added.
    case start(ordinal: Int)
    /// Remove the member: lower the StatefulSet's replicas to its ordinal (planners stop only
    /// the highest ordinal that runs), or stop the process.
    case stop(ordinal: Int)
    /// ZooKeeper `reconfig` adding `server.<ordinal+1>` as a participant, conditional on
    /// `fromVersion` (the config the step was planned from).
    case addToConfig(ordinal: Int, fromVersion: Int64)
    /// ZooKeeper `reconfig` removing `server.<ordinal+1>`, conditional on `fromVersion`.
    case removeFromConfig(ordinal: Int, fromVersion: Int64)
    /// Cassandra: `nodetool decommission` on the member (it streams its data away and leaves).
    case decommission(ordinal: Int)
    /// Delete the member's volume (PVC, or local data directory).
    case deleteVolume(ordinal: Int)
    /// Nothing to do until something changes (a member rejoins, an election ends, ...).
    case wait(ordinal: Int?)
    /// Nothing left to do.
    case done
    /// Stopped, with the reason: needs a person, or a condition to clear by itself, before
    /// it goes on. Re-evaluated on every call, so it resumes once observations allow.
    case blocked
}

/// Why: a CamelCase `code` for a condition's or an Event's reason, and one `message` sentence
/// for people (a condition message, an Event note, a CLI line). Messages hold no counters that
/// move while nothing happens, so a status written from them changes only with the step.
public struct PlanReason: Equatable, Sendable {
    public var code: String
    public var message: String

    public init(_ code: String, _ message: String) { self.code = code; self.message = message }
}

/// A planner's answer.
public struct PlanDecision: Equatable, Sendable {
    public var action: PlanAction
    public var reason: PlanReason
    /// What the action is, in a few words with the member's name ("restart zk-2").
    public var summary: String
    /// Set while waiting (or blocked after a wait): pass it back on the next call.
    public var clock: StepClock?

    public init(_ action: PlanAction, summary: String, _ reason: PlanReason, clock: StepClock? = nil) {
        self.action = action
        self.summary = summary
        self.reason = reason
        self.clock = clock
    }

    public var isDone: Bool { action == .done }
    public var isBlocked: Bool { action == .blocked }
    /// The member the action is about, if any.
    public var ordinal: Int? {
        switch action {
        case .restart(let o), .start(let o), .stop(let o), .addToConfig(let o, _), .removeFromConfig(let o, _),
             .decommission(let o), .deleteVolume(let o):
            return o
        case .wait(let o): return o
        case .done, .blocked: return nil
        }
    }

    /// One line for a CLI or a log: `restart zk-2: zk-2 is a follower at revision ...`.
    public var line: String { "\(summary): \(reason.message)" }
}

/// Settings both planners take, read from the spec (`PlanSettings(spec:)`).
public struct PlanSettings: Equatable, Sendable {
    public enum Order: String, Sendable, CaseIterable {
        /// Missing/unready first, followers from the highest ordinal down, the leader last,
        /// each gated on the quorum (the operator's default).
        case quorumSafe = "quorum-safe"
        /// The StatefulSet RollingUpdate order: highest ordinal first, gated on readiness only
        /// (kept to compare against).
        case ordinal
    }

    public var engine: Engine
    public var order: Order
    /// `updateStrategy.type: Manual`: rolls never restart members (repairs still happen).
    public var manual: Bool
    /// ZooKeeper: hand leadership over with reconfig before the leader restarts.
    public var leaderHandOff: Bool
    /// How long a restarted or started member may take to serve again and catch up.
    public var memberTimeout: Duration
    /// How long any other wait may take (an election, the others syncing, a new quorum).
    public var stepTimeout: Duration
    /// Cassandra: how long a node may stream data while it joins or leaves the ring.
    public var streamingTimeout: Duration
    /// ZooKeeper: transactions a member may trail the leader by and still count as caught up
    /// (the two `srvr` replies are taken moments apart, so a busy ensemble is never exactly level).
    public var maxZxidLag: UInt32
    /// `storage.reclaimPolicy: Delete`: a removed member's volume goes as soon as it left.
    /// With Retain it stays until its ordinal is reused; it is deleted before that either way.
    public var deleteVolumesOnScaleDown: Bool

    public static let defaultMaxZxidLag: UInt32 = 1000

    public init(
        engine: Engine, order: Order = .quorumSafe, manual: Bool = false, leaderHandOff: Bool = true,
        memberTimeout: Duration = .seconds(600), stepTimeout: Duration = .seconds(300),
        streamingTimeout: Duration = .seconds(86400), maxZxidLag: UInt32 = PlanSettings.defaultMaxZxidLag,
        deleteVolumesOnScaleDown: Bool = false
    ) {
        self.engine = engine
        self.order = order
        self.manual = manual
        self.leaderHandOff = leaderHandOff
        self.memberTimeout = memberTimeout
        self.stepTimeout = stepTimeout
        self.streamingTimeout = streamingTimeout
        self.maxZxidLag = maxZxidLag
        self.deleteVolumesOnScaleDown = deleteVolumesOnScaleDown
    }

    /// The settings an Ensemble's spec asks for.
    public init(spec: EnsembleSpec, order: Order = .quorumSafe) {
        self.init(
            engine: spec.engine, order: order, manual: spec.updateStrategy.type == "Manual",
            leaderHandOff: spec.updateStrategy.leaderHandOff,
            memberTimeout: .seconds(spec.updateStrategy.memberTimeoutSeconds),
            stepTimeout: .seconds(spec.updateStrategy.stepTimeoutSeconds),
            streamingTimeout: spec.engine == .cassandra ? .seconds(spec.cassandra.streamingTimeoutSeconds) : .seconds(86400),
            deleteVolumesOnScaleDown: spec.storage.reclaimPolicy == "Delete")
    }
}

/// Majority of `voters`: what ZooKeeper needs to elect and commit.
func quorum(of voters: Int) -> Int { voters / 2 + 1 }

/// Whole seconds of a duration, for messages.
func seconds(_ d: Duration) -> String { "\(d.components.seconds)s" }

/// The observations indexed by ordinal, with what both planners derive from them.
struct EnsembleView {
    let observation: EnsembleObservation
    let settings: PlanSettings
    private let byOrdinal: [Int: MemberObservation]
    /// Ordinals observed twice: the observation is inconsistent and nothing is planned.
    let duplicates: [Int]

    init(_ observation: EnsembleObservation, settings: PlanSettings) {
        self.observation = observation
        self.settings = settings
        var map: [Int: MemberObservation] = [:]
        var dupes: [Int] = []
        for m in observation.members {
            if map[m.ordinal] != nil { dupes.append(m.ordinal) }
            map[m.ordinal] = m
        }
        byOrdinal = map
        duplicates = dupes.sorted()
    }

    var now: Duration { observation.now }
    var config: DynamicConfig? { observation.config }

    /// The member at an ordinal; a missing one when nothing was observed there.
    func member(_ ordinal: Int) -> MemberObservation {
        byOrdinal[ordinal] ?? .missing(ordinal: ordinal, name: observation.namePrefix.map { "\($0)\(ordinal)" })
    }

    func name(_ ordinal: Int) -> String { member(ordinal).name }

    /// Ordinals of every observed member that exists, ascending.
    var existingOrdinals: [Int] { byOrdinal.values.filter(\.exists).map(\.ordinal).sorted() }
    var observedOrdinals: [Int] { byOrdinal.keys.sorted() }

    /// The one member answering as leader (or as standalone in a one-voter ensemble); nil
    /// when none or several do. A leader that has just been removed from the configuration
    /// (a hand-off) keeps answering as leader until it notices, at its next half-tick check,
    /// while the voters already follow their new leader: of several, the one participant of
    /// the configuration leads.
    func leader(voters: Int) -> Int? {
        let leaders = byOrdinal.values.filter {
            $0.servingRole == .leader || (voters == 1 && $0.servingRole == .standalone)
        }.map(\.ordinal)
        if leaders.count == 1 { return leaders[0] }
        guard let config = observation.config else { return nil }
        let inside = leaders.filter { config.server(ordinal: $0)?.role == .participant }
        return inside.count == 1 ? inside[0] : nil
    }

    /// Serving as a voter (leader or follower; standalone counts in a one-voter ensemble).
    func servesAsVoter(_ ordinal: Int, voters: Int) -> Bool {
        switch member(ordinal).servingRole {
        case .leader, .follower: return true
        case .standalone: return voters == 1
        case .observer, .notServing: return false
        }
    }

    /// Serving in any role a learner outside the config can have (non-voting follower, observer).
    func serves(_ ordinal: Int) -> Bool {
        member(ordinal).servingRole != .notServing
    }

    /// At most `maxZxidLag` transactions behind the leader. The leader itself is caught up;
    /// without a known leader nobody is. Callers ask only about members that serve, and a
    /// member serves only once it has synced with the leader, so one whose zxid is still in an
    /// earlier epoch lacks exactly the transactions of the leader's epoch: its counter. That
    /// is the normal state right after an election (the leader reports `<epoch>00000000`, its
    /// followers the last zxid of the previous epoch until the first write), so an older epoch
    /// alone must not count as lagging, or an idle ensemble would never pass a gate.
    func caughtUp(_ ordinal: Int, leader: Int?) -> Bool {
        guard let leader else { return false }
        if ordinal == leader { return true }
        guard let mine = member(ordinal).zxid, let theirs = member(leader).zxid else { return false }
        if mine.epoch < theirs.epoch { return theirs.counter <= settings.maxZxidLag }
        guard mine.epoch == theirs.epoch else { return false }
        return mine.counter >= theirs.counter || theirs.counter - mine.counter <= settings.maxZxidLag
    }

    /// Why a member is not (yet) serving and caught up, for messages.
    func lag(_ ordinal: Int, leader: Int?) -> String {
        let m = member(ordinal)
        if !m.exists { return "\(m.name) does not exist" }
        if m.terminating { return "\(m.name) is still stopping" }
        if !m.reachable { return "\(m.name) does not answer" }
        if m.role == .notServing { return "\(m.name) is not serving" }
        guard let leader else { return "\(m.name) serves as \(m.role.rawValue), but no leader is known" }
        if caughtUp(ordinal, leader: leader) && !m.ready {
            return "\(m.name) serves as \(m.role.rawValue) and has caught up, but is not ready (its readiness probe does not pass yet)"
        }
        guard let mine = m.zxid, let theirs = member(leader).zxid else {
            return "\(m.name) serves as \(m.role.rawValue), but its zxid or the leader's is unknown"
        }
        if mine.epoch < theirs.epoch {
            return "\(m.name) is in epoch \(mine.epoch), the leader \(name(leader)) in epoch \(theirs.epoch) , more than \(settings.maxZxidLag) transactions into it"
        }
        if mine.epoch != theirs.epoch {
            return "\(m.name) is in epoch \(mine.epoch), the leader \(name(leader)) in epoch \(theirs.epoch)"
        }
        return "\(m.name) trails the leader \(name(leader)) by more than \(settings.maxZxidLag) transactions"
    }

    /// Where a wait for a member to come back counts from when it does not serve at all: its
    /// own (re)start, which survives an operator restart and makes a member down since before
    /// a roll block at once. nil while it serves but lags (any member may, at any time): that
    /// wait gets the whole timeout from when it was first seen, on the step clock.
    func downSince(_ ordinal: Int) -> Duration? {
        let m = member(ordinal)
        let serving = settings.engine == .zooKeeper ? m.servingRole != .notServing : m.ready
        return m.terminating || serving ? nil : m.startedAt
    }

    /// Start of a wait: when the member was last (re)started if the observation says, else
    /// the step clock when it is for this step, else now.
    func clock(_ step: String, previous: StepClock?, startedAt: Duration? = nil) -> StepClock {
        if let startedAt { return StepClock(step: step, since: min(startedAt, now)) }
        if let previous, previous.step == step { return previous }
        return StepClock(step: step, since: now)
    }

    func elapsed(_ clock: StepClock) -> Duration { now - clock.since }
}

/// What evaluating a roll and a scale share: the view, the clock passed back in, and how
/// decisions are phrased.
protocol PlanEvaluation {
    var view: EnsembleView { get }
    var previous: StepClock? { get }
    /// "roll" or "scaling", for summaries such as "roll blocked at zk-2".
    var activity: String { get }
}

extension PlanEvaluation {
    var settings: PlanSettings { view.settings }
    func name(_ o: Int) -> String { view.name(o) }
    func member(_ o: Int) -> MemberObservation { view.member(o) }

    func decision(_ action: PlanAction, _ summary: String, _ code: String, _ message: String) -> PlanDecision {
        PlanDecision(action, summary: summary, PlanReason(code, message))
    }

    /// A wait that turns into `blocked` once it has lasted longer than `timeout`.
    func wait(for ordinal: Int?, step: String, timeout: Duration, startedAt: Duration? = nil,
              waiting: PlanReason, timedOut: PlanReason) -> PlanDecision {
        let clock = view.clock(step, previous: previous, startedAt: startedAt)
        let subject = ordinal.map(name) ?? "the ensemble"
        if view.elapsed(clock) > timeout {
            return PlanDecision(.blocked, summary: "\(activity) blocked at \(subject)", timedOut, clock: clock)
        }
        return PlanDecision(.wait(ordinal: ordinal), summary: "wait for \(subject)", waiting, clock: clock)
    }
}
