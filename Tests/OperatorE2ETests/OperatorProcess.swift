import EnsembleCore
import Foundation
import KubernetesClient
import NetCore
import ZooKeeperTestSupport

/// The real `ensemble-operator` binary, started by a test against an API server and always
/// stopped (SIGTERM, then SIGKILL) by `stop()` or when the value goes away.
final class OperatorProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String
    let directory: URL
    let name: String
    private(set) var healthPort = 0

    /// Starts the operator; returns once it serves /healthz (its log names the port).
    static func start(name: String = "operator", kubeconfig: String, arguments: [String] = [],
                      environment: [String: String] = [:]) async throws -> OperatorProcess {
        let directory = try temporaryDirectory("operator-\(name)")
        let operatorProcess = OperatorProcess(name: name, directory: directory)
        let process = operatorProcess.process
        process.executableURL = URL(fileURLWithPath: try builtProduct("ensemble-operator"))
        process.arguments = ["--kubeconfig", kubeconfig, "--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0",
                             "--log-format", "json", "--log-level", "debug"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["POD_NAME"] = name
        for (key, value) in environment { env[key] = value }
        process.environment = env
        guard FileManager.default.createFile(atPath: operatorProcess.logPath, contents: nil) else {
            throw SetupFailed(description: "cannot create \(operatorProcess.logPath)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: operatorProcess.logPath))
        process.standardError = handle
        process.standardOutput = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        do {
            operatorProcess.healthPort = try await eventually("\(name) serves /healthz", timeout: 30) {
                guard process.isRunning else { throw OperatorExited(log: operatorProcess.log) }
                return operatorProcess.logLines().lazy.compactMap { line -> Int? in
                    guard line["msg"] == "serving /healthz /readyz /metrics", let address = line["address"] else { return nil }
                    return address.split(separator: ":").last.flatMap { Int($0) }
                }.first
            }
        } catch {
            operatorProcess.stop()
            throw error
        }
        return operatorProcess
    }

    private init(name: String, directory: URL) {
        self.name = name
        self.directory = directory
        logPath = directory.appendingPathComponent("operator.log").path
    }

    /// Stops the process and removes its log (set ENSEMBLE_TEST_KEEP_LOGS to keep it).
    deinit {
        stop()
        if ProcessInfo.processInfo.environment["ENSEMBLE_TEST_KEEP_LOGS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The JSON log lines, as string maps (every field the operator writes is a string).
    func logLines() -> [[String: String]] {
        log.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object.compactMapValues { $0 as? String }
        }
    }

    /// SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop(grace: Double = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// No goodbye: what a crash or a lost node looks like to the others.
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func get(_ path: String) throws -> (status: Int, body: String) {
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: healthPort, deadline: .after(seconds: 5))
        defer { connection.close() }
        try connection.writeAll(Array("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n".utf8), deadline: .after(seconds: 5))
        let text = String(decoding: try connection.readToEnd(limit: 16 << 20, deadline: .after(seconds: 5)), as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
    }

    /// One series of /metrics, by its exact label text (`name{a="b"}`); nil when absent.
    func metric(_ series: String) throws -> Double? {
        let body = try get("/metrics").body
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func metricsText() throws -> String { try get("/metrics").body }
}

struct OperatorExited: Error, CustomStringConvertible {
    var log: String
    var description: String { "the operator exited:\n\(log.suffix(4000))" }
}

struct SetupFailed: Error, CustomStringConvertible {
    var description: String
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `body` until it returns a value (not nil) or `timeout` passes; the last error is
/// reported. A condition with a deadline, never a bare sleep.
func eventually<T>(_ what: String, timeout: Double = 60, interval: Double = 0.1,
                   _ body: () async throws -> T?) async throws -> T {
    let deadline = Deadline.after(seconds: timeout)
    var lastError: (any Error)?
    while true {
        do {
            if let value = try await body() { return value }
            lastError = nil
        } catch let error as OperatorExited {
            throw error
        } catch {
            lastError = error
        }
        if deadline.hasPassed {
            throw TimedOut(description: "timed out after \(timeout) s waiting until \(what)" + (lastError.map { "; last error: \($0)" } ?? ""))
        }
        try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
    }
}
