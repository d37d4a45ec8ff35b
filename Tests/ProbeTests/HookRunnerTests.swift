import Foundation
import Testing
import ZooKeeperTestSupport

/// `ensemble-probe hooks` as kubelet runs a rendered postStart or preStop: the user's steps
/// in order, then the operator's (`--finally`) whatever happened to them.
@Suite struct HookRunnerTests {
    func run(_ arguments: [String], timeout: Double = 30) throws -> (result: ProcessResult, log: [String]) {
        let dir = try temporaryDirectory("hooks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log").path
        let arguments = arguments.map { $0.replacingOccurrences(of: "LOG", with: log) }
        let result = try runProcess(try builtProduct("ensemble-probe"), ["hooks"] + arguments, timeout: timeout)
        let text = FileManager.default.fileExists(atPath: log) ? try String(contentsOfFile: log, encoding: .utf8) : ""
        let lines = text.split(separator: "\n").map(String.init)
        return (result, lines)
    }

    @Test func stepsRunInOrderAndTheFinalStepAfterAFailure() throws {
        let (result, log) = try run(["3", "sh", "-c", "echo first >> LOG", "3", "sh", "-c", "echo second >> LOG; exit 3",
                                     "--finally", "3", "sh", "-c", "echo drain >> LOG"])
        #expect(log == ["first", "second", "drain"])
        #expect(result.status == 0, "the final step decides: \(result.stderr)")
        #expect(result.stderr.contains("ensemble-probe: hooks: step 2 (sh) failed with exit status 3"))
        #expect(result.stderr.contains("ensemble-probe: hooks: final step (sh) passed"))
    }

    @Test func aHangingStepIsStoppedAtTheBudgetAndTheFinalStepStillRuns() throws {
        let (result, log) = try run(["--budget", "1", "3", "sh", "-c", "echo started >> LOG; exec sleep 60", "3", "sh", "-c", "echo skipped >> LOG",
                                     "--finally", "3", "sh", "-c", "echo drain >> LOG; exit 4"])
        #expect(log == ["started", "drain"])
        #expect(result.status == 1, "a failing final step fails the hook")
        #expect(result.seconds < 1 + 2 + 5, "budget 1 s, SIGTERM grace 2 s; took \(result.seconds) s")
        #expect(result.stderr.contains("step 1 (sh) stopped: the --budget ran out"))
        #expect(result.stderr.contains("step 2 (sh) skipped: the --budget is spent"))
    }

    @Test func withoutAFinalStepAnyFailureFails() throws {
        #expect(try run(["1", "true", "1", "true"]).result.status == 0)
        let missing = try run(["1", "true", "1", "/nonexistent/program"])
        #expect(missing.result.status == 1)
        #expect(missing.result.stderr.contains("step 2 (/nonexistent/program) could not start: No such file or directory"))
    }

    /// Exec probes get no $(VAR) expansion: the probe reads the address itself.
    @Test func hostFromTheEnvironment() throws {
        let listener = try TestPeer { _ in }
        defer { listener.stop() }
        let probe = try builtProduct("ensemble-probe")
        let env = ProcessInfo.processInfo.environment
        let passed = try runProcess(probe, ["tcp-live", "--host-env", "POD_IP", "--port", String(listener.port)], environment: env.merging(["POD_IP": "127.0.0.1"]) { $1 })
        #expect(passed.status == 0, "\(passed.stderr)")
        #expect(passed.stderr.contains("127.0.0.1:\(listener.port) accepts connections"))
        let unset = try runProcess(probe, ["tcp-live", "--host-env", "POD_IP", "--port", String(listener.port)], environment: env.filter { $0.key != "POD_IP" })
        #expect(unset.status == 1)
        #expect(unset.stderr.contains("POD_IP is not set"))
    }
}
