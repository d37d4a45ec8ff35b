import EnsembleCore
import Foundation
import LocalEnsemble
import NetCore
import Testing
import ZKConfig
import ZooKeeperClient
import ZooKeeperOps
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `zkctl local roll` and `zkctl local scale` on real ensembles, run as users run them (the
/// built binary), while this test writes through its own continuous writer and watches every
/// member with its own monitor: what the test asserts is what it measured, not what zkctl says.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ZkctlRollScaleTests {
    /// A local ensemble of `members` on a private address block for one test; stopped and
    /// deleted afterwards whatever happened.
    struct Scratch {
        let name: String
        let block: String
        let state: String
        let file: String

        var installation: ZooKeeperInstallation { get throws { try ZooKeeperInstallation.locate() } }

        func zkctl(_ arguments: [String], timeout: Double = 240) async throws -> ProcessResult {
            try await runProcessInBackground(try builtProduct("zkctl"), arguments, timeout: timeout)
        }

        func local(_ arguments: [String], timeout: Double = 240) async throws -> ProcessResult {
            try await zkctl(["local"] + arguments + ["--state-dir", state], timeout: timeout)
        }

        /// The ensemble as its record describes it now.
        func ensemble() throws -> LocalEnsemble {
            let layout = try #require(try LocalEnsembleLayout.loadRecord(name: name, stateDirectory: state))
            return LocalEnsemble(layout: layout, installation: try installation)
        }

        /// Member `id` (1...9) wherever the record is: its files and addresses follow from the block.
        func member(_ id: Int) -> LocalMember {
            try! LocalEnsembleLayout(name: name, members: 9, baseAddress: block, stateDirectory: state).member(id: id)!
        }

        func endpoint(_ id: Int) -> String { "\(block).\(id):2181" }

        /// Every member the test may see, for the monitor.
        func endpoints(_ count: Int) -> [MemberEndpoint] {
            (1...count).map { MemberEndpoint(ordinal: $0 - 1, name: "member \($0)", host: "\(block).\($0)", port: 2181) }
        }

        func pids(_ ids: ClosedRange<Int>) throws -> [Int: Int32] {
            let ensemble = try ensemble()
            var result: [Int: Int32] = [:]
            for id in ids { if case .running(let pid) = ensemble.processState(member(id)) { result[id] = pid } }
            return result
        }

        /// `/zookeeper/config` through a fresh session, after a sync.
        func config(via ids: [Int]) async throws -> DynamicConfig {
            var options = ZooKeeperClient.Options()
            options.requestTimeout = 10
            options.connectTimeout = 20
            let client = try await ZooKeeperClient.connect(members: ids.map(endpoint), options: options)
            do {
                try await client.sync("/zookeeper/config")
                let (data, _) = try await client.getData("/zookeeper/config")
                await client.close()
                return try DynamicConfig.parse(String(decoding: data, as: UTF8.self))
            } catch {
                await client.close()
                throw error
            }
        }

        func revisions(_ ids: ClosedRange<Int>) throws -> [String?] {
            try ids.map { try MemberStart.load(of: member($0))?.revision }
        }
    }

    static func withEnsemble<T>(_ name: String, members: Int, _ body: (Scratch) async throws -> T) async throws -> T {
        // Where a crashed test process's members are found and stopped by the next one.
        let directory = URL(fileURLWithPath: try TestAddressBlocks.makeStateDirectory())
        let scratch = Scratch(name: name, block: TestAddressBlocks.next(), state: directory.appendingPathComponent("state").path,
                              file: directory.appendingPathComponent("\(name).yaml").path)
        defer {
            _ = try? runProcess(try builtProduct("zkctl"), ["local", "down", name, "--state-dir", scratch.state], timeout: 60)
            LocalEnsemble.killServers(under: scratch.state)
            try? FileManager.default.removeItem(at: directory)
        }
        try """
            apiVersion: ensemble.dev/v1alpha1
            kind: Ensemble
            metadata:
              name: \(name)
            spec:
              engine: ZooKeeper
              replicas: \(members)
              zookeeper:
                heapSize: 96m
            """.write(toFile: scratch.file, atomically: true, encoding: .utf8)
        let up = try await scratch.local(["up", "-f", scratch.file, "--base-address", scratch.block, "--timeout", "120"])
        try #require(up.status == 0, "\(up.stdout)\(up.stderr)")
        return try await body(scratch)
    }

    /// The test's own writer and monitor around `body`.
    static func measured<T: Sendable>(_ scratch: Scratch, writer ids: [Int], watch count: Int,
                                      _ body: () async throws -> T) async throws -> (T, MeasurementReport) {
        let (result, report) = try await Measurement.run(members: ids.map(scratch.endpoint), endpoints: scratch.endpoints(count), rate: 50, body)
        return (try result.get(), report)
    }

    static func checkNothingLost(_ report: MeasurementReport) {
        #expect(report.readBackError == nil, "\(report.readBackError ?? "")")
        #expect(report.writes.lost.isEmpty, "acknowledged writes lost: \(report.writes.lost)")
        #expect(report.writes.acknowledged > 20, "the writer hardly wrote: \(report.writes)")
    }

    /// Three members: a roll with the writer running, a roll interrupted right after the
    /// leader left the configuration and resumed, and a roll that refuses to start beside a
    /// stopped member.
    @Test func threeMembersRollResumeAndRefuse() async throws {
        try await Self.withEnsemble("zk-roll3", members: 3) { s in
            let before = try s.pids(1...3)
            let (roll, report) = try await Self.measured(s, writer: [1, 2, 3], watch: 3) { try await s.local(["roll", s.name]) }
            #expect(roll.status == 0, "\(roll.stdout)\(roll.stderr)")
            // Quorum-safe: one member down at a time, one election (the hand-off), nothing lost.
            #expect(report.maxMembersDown == 1, "members down at once: \(report.maxMembersDown); \(roll.stdout)")
            #expect(report.elections == 1, "elections: \(report.elections), leaders \(report.leaders); \(roll.stdout)")
            Self.checkNothingLost(report)
            #expect(roll.stdout.contains("from the configuration") && roll.stdout.contains("add member"), "\(roll.stdout)")
            // Every member restarted once, at one revision, and all are voters again.
            let after = try s.pids(1...3)
            #expect(after.count == 3 && (1...3).allSatisfy { after[$0] != before[$0] }, "\(before) -> \(after)")
            let revisions = try s.revisions(1...3)
            #expect(Set(revisions).count == 1 && revisions[0] != nil, "\(revisions)")
            #expect(try await s.config(via: [1, 2, 3]).participantOrdinals == [0, 1, 2])

            // Ctrl-C right after the leader left the configuration: half a hand-off.
            let zkctl = try builtProduct("zkctl")
            let interrupted = try await runUntilLine(zkctl, ["local", "roll", s.name, "--state-dir", s.state], containing: "from the configuration")
            #expect(interrupted.signal == SIGINT, "\(interrupted.output)")
            let half = try await s.config(via: [1, 2, 3])
            #expect(half.participantOrdinals.count == 2, "after the interruption: \(half)")
            let restartedBefore = try s.pids(1...3)
            let resumed = try await s.local(["roll", s.name])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(resumed.stdout.contains("resuming the roll"), "\(resumed.stdout)")
            #expect(try await s.config(via: [1, 2, 3]).participantOrdinals == [0, 1, 2])
            // The followers restarted before the interruption were not restarted again.
            let left = try #require(Set(0..<3).subtracting(half.participantOrdinals).first) + 1
            let final = try s.pids(1...3)
            for id in 1...3 where id != left { #expect(final[id] == restartedBefore[id], "member \(id) restarted twice") }
            let resumedRevisions = try s.revisions(1...3)
            #expect(Set(resumedRevisions).count == 1, "\(resumedRevisions)")

            // A member someone stopped: the roll refuses, says why, and touches nothing.
            try s.ensemble().stop(s.member(2))
            let running = try s.pids(1...3)
            let refused = try await s.local(["roll", s.name])
            #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("the roll does not start: member 2 is stopped"), "\(refused.stderr)")
            #expect(refused.stderr.contains("zkctl local up -f FILE"), "\(refused.stderr)")
            #expect(try s.pids(1...3) == running)
        }
    }

    /// Five members, with zkctl's own --measure report (JSON) next to the test's measurement.
    @Test func fiveMembersRollWithMeasure() async throws {
        try await Self.withEnsemble("zk-roll5", members: 5) { s in
            let (roll, report) = try await Self.measured(s, writer: [1, 2, 3, 4, 5], watch: 5) {
                try await s.local(["roll", s.name, "--measure", "-o", "json"])
            }
            #expect(roll.status == 0, "\(roll.stdout)\(roll.stderr)")
            #expect(report.maxMembersDown == 1, "members down at once: \(report.maxMembersDown); \(roll.stderr)")
            #expect(report.elections == 1, "elections: \(report.elections), leaders \(report.leaders); \(roll.stderr)")
            Self.checkNothingLost(report)
            #expect(try await s.config(via: [1, 2, 3, 4, 5]).participantOrdinals == [0, 1, 2, 3, 4])

            // zkctl's own figures agree, and its report lists what it did.
            let json = try #require(try JSONSerialization.jsonObject(with: Data(roll.stdout.utf8)) as? [String: Any], "\(roll.stdout)")
            #expect(json["result"] as? String == "done")
            #expect(json["order"] as? String == "quorum-safe" && json["leaderHandOff"] as? Bool == true)
            let measurement = try #require(json["measurement"] as? [String: Any])
            #expect(measurement["elections"] as? Int == 1, "\(measurement)")
            #expect(measurement["maxMembersDown"] as? Int == 1, "\(measurement)")
            let writes = try #require(measurement["writes"] as? [String: Any])
            #expect((writes["lost"] as? [Int])?.isEmpty == true && (writes["acknowledged"] as? Int ?? 0) > 20, "\(writes)")
            let steps = try #require(json["steps"] as? [[String: Any]])
            let actions = steps.compactMap { $0["action"] as? String }
            #expect(actions.filter { $0 == "restart" }.count == 5, "\(actions)")
            #expect(actions.contains("removeFromConfig") && actions.contains("addToConfig"), "\(actions)")
        }
    }

    /// 3 -> 5 -> 3 -> 1 -> 3 with the writer running throughout; `status`, `down`, `up` and
    /// `health` follow the membership.
    @Test func scaleThreeFiveThreeOneThree() async throws {
        try await Self.withEnsemble("zk-scale", members: 3) { s in
            let (_, report) = try await Self.measured(s, writer: [1], watch: 5) { () async throws -> Int in
                for (step, target) in [5, 3, 1, 3].enumerated() {
                    if step == 3 {
                        // Member 3's files, left over from 3 -> 1 (reclaim policy Retain): they
                        // must not be what member 3 starts from when it comes back.
                        try "stale".write(toFile: s.member(3).dataDir + "/stale-marker", atomically: true, encoding: .utf8)
                    }
                    let scale = try await s.local(["scale", s.name, "--replicas", "\(target)"])
                    #expect(scale.status == 0, "to \(target): \(scale.stdout)\(scale.stderr)")
                    // The configuration is exactly the desired members, each serving.
                    let config = try await s.config(via: [1])
                    #expect(config.participantOrdinals == Array(0..<target), "to \(target): \(config)")
                    #expect(config.servers.count == target, "to \(target): \(config)")
                    let status = try await s.local(["status", s.name])
                    #expect(status.status == 0 || target == 1, "to \(target): \(status.stdout)\(status.stderr)")
                    #expect(status.stdout.contains("\(target) of \(target) voters serving"), "to \(target): \(status.stdout)")
                    // No member beyond the desired ones runs or listens.
                    for id in (target + 1)..<6 {
                        #expect(!(try s.ensemble().processState(s.member(id)).isRunning), "member \(id) runs after scaling to \(target)")
                        #expect(throws: NetError.self, "member \(id) listens after scaling to \(target)") {
                            _ = try TCPConnection.connect(host: "\(s.block).\(id)", port: 2181, deadline: .after(seconds: 2))
                        }
                    }
                    if target == 5 {
                        // The recorded membership follows: health, down and up see five members.
                        let health = try await s.zkctl(["health", "--local", s.name, "--state-dir", s.state])
                        #expect(health.status == 0 && health.stdout.contains("healthy: 5 of 5 voters serving"), "\(health.stdout)")
                        let up = try await s.local(["up", "-f", s.file, "--timeout", "120"])
                        #expect(up.status == 0 && up.stdout.contains("'zk-scale' has 5 members"), "\(up.stdout)\(up.stderr)")
                        #expect(up.stdout.contains("already up"), "\(up.stdout)")
                    }
                    if step == 3 {
                        #expect(scale.stdout.contains("delete the stale volume of member 3"), "\(scale.stdout)")
                        #expect(!FileManager.default.fileExists(atPath: s.member(3).dataDir + "/stale-marker"), "member 3 started from stale data")
                    }
                }
                return 0
            }
            Self.checkNothingLost(report)
            // A stop for an election would show as a long gap; the bound is generous.
            #expect(report.writes.longestGap < 5, "longest write gap \(report.writes.longestGap) s")

            // After it all: down and up again bring back exactly the three members.
            let down = try await s.local(["down", s.name])
            #expect(down.status == 0 && down.stdout.contains("stopped members 1, 2, 3"), "\(down.stdout)\(down.stderr)")
            let up = try await s.local(["up", "-f", s.file, "--timeout", "120"])
            #expect(up.status == 0 && up.stdout.contains("healthy: 3 of 3 voters serving"), "\(up.stdout)\(up.stderr)")
        }
    }
}

/// What `runUntilLine` saw: the output up to the line, and how the process ended.
struct InterruptedRun: Sendable {
    var output: String
    /// The signal that ended it, if one did.
    var signal: Int32?
}

/// Runs a program, sends it SIGINT (a Ctrl-C) once a line of its standard output contains
/// `marker`, and waits for it to end. A program that never prints it is killed after
/// `timeout` seconds and the call throws.
func runUntilLine(_ executable: String, _ arguments: [String], containing marker: String, timeout: Double = 120) async throws -> InterruptedRun {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = pipe
                try process.run()
                let deadline = Deadline.after(seconds: timeout)
                let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
                var output = ""
                var sent = false
                let handle = pipe.fileHandleForReading
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    output += String(decoding: data, as: UTF8.self)
                    if !sent, output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().contains(where: { $0.contains(marker) }) {
                        process.interrupt()
                        sent = true
                    }
                }
                process.waitUntilExit()
                watchdog.cancel()
                if deadline.hasPassed && !sent { throw ConditionTimeout(seconds: timeout) }
                let signal = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
                return InterruptedRun(output: output, signal: signal)
            })
        }
    }
}
