import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process said.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Wall time from start to exit.
    public var seconds: Double
}

public struct ProcessTimeout: Error, CustomStringConvertible {
    public var command: String
    public var seconds: Double
    public var description: String { "\(command) did not finish within \(seconds) s and was killed" }
}

public struct ProgramMissing: Error, CustomStringConvertible {
    public var description: String
}

/// Runs a program to completion and captures its output. A child that outlives `timeout` is
/// killed and the call throws, so a hung child fails its test instead of hanging the suite.
/// `executable` is a path, or a name looked up on PATH. Blocks the calling thread: from
/// async tests use `runProcessInBackground`.
public func runProcess(_ executable: String, _ arguments: [String], stdin: String? = nil,
                       environment: [String: String]? = nil, timeout: Double = 60) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : try onPath(executable))
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    let start = DispatchTime.now()
    try process.run()
    // Drain both pipes on threads of their own so a chatty child never blocks on a full pipe.
    let collected = OutputCollector()
    let readers = DispatchGroup()
    for (pipe, isError) in [(out, false), (err, true)] {
        readers.enter()
        Thread.detachNewThread {
            collected.set(pipe.fileHandleForReading.readDataToEndOfFile(), isError: isError)
            readers.leave()
        }
    }
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        if finished.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        throw ProcessTimeout(command: ([executable] + arguments).joined(separator: " "), seconds: timeout)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    _ = readers.wait(timeout: .now() + 5)
    return ProcessResult(status: process.terminationStatus, stdout: collected.stdout, stderr: collected.stderr, seconds: seconds)
}

/// `runProcess` with the waiting on a thread of its own, not on one of Swift's few
/// cooperative threads.
public func runProcessInBackground(_ executable: String, _ arguments: [String], stdin: String? = nil,
                                   environment: [String: String]? = nil, timeout: Double = 60) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                try runProcess(executable, arguments, stdin: stdin, environment: environment, timeout: timeout)
            })
        }
    }
}

/// A product built next to the test runner (`swift build`/`swift test` put executables and
/// the runner in the same products directory).
public func builtProduct(_ name: String) throws -> String {
    let runner = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: runner).deletingLastPathComponent()
    // On some layouts the runner sits inside a .xctest bundle directory.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    throw ProgramMissing(description: "\(name) is not built next to \(runner); run `swift build --product \(name)` first")
}

/// A fresh directory under the system's temporary directory.
public func temporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private func onPath(_ name: String) throws -> String {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw ProgramMissing(description: "\(name) is not on PATH; run scripts/test.sh, which installs it")
}

private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data(), err = Data()
    func set(_ data: Data, isError: Bool) { lock.withLock { if isError { err = data } else { out = data } } }
    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }
}
