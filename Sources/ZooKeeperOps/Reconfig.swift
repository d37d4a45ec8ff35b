import EnsembleCore
import NetCore
import ZKConfig
import ZooKeeperClient

/// A session for reading `/zookeeper/config` and changing it, authenticated as the ensemble's
/// super user. Reconfigs are version-conditional, and one whose outcome is unknown (the
/// connection dropped after it was sent, as it does whenever the leader itself is removed)
/// is settled by reading the configuration back, never by sending it again.
public final class ConfigSession: Sendable {
    public let client: ZooKeeperClient
    public let members: [String]

    /// Opens a session with `members` ("host:port") and authenticates it as `superUser`.
    /// `requestTimeout` bounds every read and reconfig (a read during an election waits for it).
    public static func connect(members: [String], superUser: SuperUser?, requestTimeout: Double = 3,
                               connectTimeout: Double = 15) async throws -> ConfigSession {
        var options = ZooKeeperClient.Options()
        options.requestTimeout = requestTimeout
        options.connectTimeout = connectTimeout
        options.attemptTimeout = min(requestTimeout, 3)
        // Long enough that the session outlives an election or two while the client reconnects.
        options.sessionTimeout = 30
        let client = try await ZooKeeperClient.connect(members: members, options: options)
        if let superUser {
            do {
                try await client.addAuth(scheme: "digest", credentials: superUser.credentials)
            } catch {
                await client.close()
                throw error
            }
        }
        return ConfigSession(client: client, members: members)
    }

    private init(client: ZooKeeperClient, members: [String]) {
        self.client = client
        self.members = members
    }

    public func close() async { await client.close() }

    /// The live configuration, as the leader has it (sync first); the error when it cannot
    /// be read within the request timeout (no quorum, an election under way).
    public func readConfig() async -> Result<DynamicConfig, any Error> {
        let data: [UInt8]
        do {
            try await client.sync("/zookeeper/config")
            data = try await client.getData("/zookeeper/config").data
        } catch {
            return .failure(error)
        }
        return Self.parse(data)
    }

    /// Outside the async functions: the Swift 6.3 release optimizer crashes splitting an async
    /// function whose `do` block also calls a typed-throws function.
    static func parse(_ data: [UInt8]) -> Result<DynamicConfig, any Error> {
        do { return .success(try DynamicConfig.parse(String(decoding: data, as: UTF8.self))) } catch { return .failure(error) }
    }

    /// Performs an `addToConfig` or `removeFromConfig` decision. `serverValue` is what follows
    /// `server.N=` for a member being added. Reads the configuration back (for up to
    /// `settleTimeout` seconds) when the outcome is unknown.
    public func perform(_ action: PlanAction, serverValue: (Int) -> String, settleTimeout: Double = 30) async -> ReconfigOutcome {
        let ordinal: Int, joining: [String], leaving: [Int], version: Int64
        switch action {
        case .addToConfig(let o, let from):
            (ordinal, joining, leaving, version) = (o, ["server.\(o + 1)=\(serverValue(o))"], [], from)
        case .removeFromConfig(let o, let from):
            (ordinal, joining, leaving, version) = (o, [], [o + 1], from)
        default:
            return .refused(reason: "\(action) is not a reconfig")
        }
        let adding = !joining.isEmpty
        func settled(_ config: DynamicConfig) -> Bool {
            let role = config.server(ordinal: ordinal)?.role
            return adding ? role == .participant : role == nil
        }
        do {
            let reply = try await client.reconfig(joining: joining, leaving: leaving, fromConfig: version)
            return .applied(config: try Self.parse(Array(reply.text.utf8)).get(), checked: false)
        } catch let error as ZooKeeperError where !error.mayHaveBeenApplied {
            switch error {
            case .badVersion: return .superseded(reason: "the configuration changed since version 0x\(String(version, radix: 16)) was read")
            case .noAuth, .authFailed:
                return .refused(reason: "not authorized to reconfigure (\(error)): the member this session talks to does not accept the super user")
            case .reconfigDisabled, .unimplemented, .badArguments, .invalidArgument:
                return .refused(reason: error.description)
            default:
                // NewConfigNoQuorum, ReconfigInProgress, no connection yet: may pass later.
                return .notApplied(reason: error.description)
            }
        } catch {
            // Sent, answer lost: read the configuration back, as the leader has it.
            let deadline = Deadline.after(seconds: settleTimeout)
            var lastError = "\(error)"
            while !deadline.hasPassed {
                switch await readConfig() {
                case .success(let config):
                    if config.version == version { return .notApplied(reason: "outcome unknown (\(error)); the configuration is still at version 0x\(String(version, radix: 16))") }
                    if settled(config) { return .applied(config: config, checked: true) }
                    return .superseded(reason: "outcome unknown (\(error)); the configuration moved to version \(config.versionText) without this change")
                case .failure(let readError):
                    lastError = "\(readError)"
                }
                do { try await Task.sleep(nanoseconds: 200_000_000) } catch { break }
            }
            return .unknown(reason: "outcome unknown (\(error)), and /zookeeper/config could not be read back within \(Int(settleTimeout)) s: \(lastError)")
        }
    }
}

/// What became of a reconfig.
public enum ReconfigOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Done: the new configuration. `checked`: its reply was lost and the configuration read
    /// back shows it.
    case applied(config: DynamicConfig, checked: Bool)
    /// Certainly not applied (ZooKeeper refused it, or the read-back shows the old version).
    case notApplied(reason: String)
    /// The version it was conditional on is gone (someone else changed the configuration):
    /// plan again from a fresh observation.
    case superseded(reason: String)
    /// Refused for a reason planning again will not change (no rights, reconfig disabled).
    case refused(reason: String)
    /// Nobody can tell yet (the configuration could not be read back).
    case unknown(reason: String)

    public var description: String {
        switch self {
        case .applied(let config, let checked):
            return "applied\(checked ? " (reply lost; confirmed by reading /zookeeper/config)" : ""): version \(config.versionText), participants \(config.participantOrdinals.map { String($0 + 1) }.joined(separator: ", "))"
        case .notApplied(let reason): return "not applied: \(reason)"
        case .superseded(let reason): return "not applied: \(reason)"
        case .refused(let reason): return "refused: \(reason)"
        case .unknown(let reason): return reason
        }
    }
}
