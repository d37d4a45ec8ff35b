import EnsembleCore
import Foundation

/// What one request presents: a bearer token and/or a client certificate.
struct PresentedCredentials: Sendable {
    var bearerToken: String?
    var clientCertificate: PEMSource?
    var clientKey: PEMSource?
}

/// Supplies current credentials: a token file is re-read when it changes (checked with one
/// stat per request), an exec plugin's ExecCredential is cached until its expiry and run
/// once for any number of concurrent callers. After a 401 `invalidate()` forces both fresh.
actor CredentialProvider {
    private let credentials: Credentials
    private let server: String
    private let certificateAuthority: PEMSource?
    private var fileToken: (token: String, stamp: FileStamp)?
    private var execCache: ExecCredential?
    private var execWaiters: [CheckedContinuation<ExecCredential, Error>]?

    init(_ credentials: Credentials, server: String, certificateAuthority: PEMSource?) {
        self.credentials = credentials
        self.server = server
        self.certificateAuthority = certificateAuthority
    }

    /// True when a 401 may be cured by fetching credentials again.
    nonisolated var canRefresh: Bool {
        if case .file = credentials.token { return true }
        return credentials.exec != nil
    }

    func current() async throws -> PresentedCredentials {
        var presented = PresentedCredentials(clientCertificate: credentials.clientCertificate, clientKey: credentials.clientKey)
        switch credentials.token {
        case .value(let token): presented.bearerToken = token
        case .file(let path): presented.bearerToken = try tokenFromFile(path)
        case nil: break
        }
        if let exec = credentials.exec {
            let credential = try await execCredential(exec)
            if let token = credential.token { presented.bearerToken = token }
            if let certificate = credential.clientCertificate, let key = credential.clientKey {
                presented.clientCertificate = .data(certificate)
                presented.clientKey = .data(key)
            }
        }
        return presented
    }

    func invalidate() {
        fileToken = nil
        execCache = nil
    }

    private func tokenFromFile(_ path: String) throws -> String {
        let stamp = try FileStamp(path)
        if let cached = fileToken, cached.stamp == stamp { return cached.token }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubernetesError.credentials("\(path): cannot read the token file")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw KubernetesError.credentials("\(path): the token file is empty") }
        fileToken = (token, stamp)
        return token
    }

    private func execCredential(_ exec: ExecConfig) async throws -> ExecCredential {
        if let cached = execCache, !cached.isExpired(now: Date()) { return cached }
        if execWaiters != nil {
            return try await withCheckedThrowingContinuation { execWaiters!.append($0) }
        }
        execWaiters = []
        let result: Result<ExecCredential, Error>
        do {
            result = .success(try await ExecPlugin.run(exec, server: server, certificateAuthority: certificateAuthority))
        } catch {
            result = .failure(error)
        }
        let waiters = execWaiters ?? []
        execWaiters = nil
        if case .success(let credential) = result { execCache = credential }
        for waiter in waiters { waiter.resume(with: result) }
        return try result.get()
    }
}

/// Identifies one version of a file: a rotated token (atomic rename or rewrite) changes it.
struct FileStamp: Equatable {
    var inode: UInt64
    var size: Int64
    var modified: Int
    var modifiedNanoseconds: Int

    init(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw KubernetesError.credentials("\(path): \(String(cString: strerror(errno)))")
        }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}

/// The `status` of an ExecCredential.
struct ExecCredential: Sendable {
    var token: String?
    var clientCertificate: [UInt8]?
    var clientKey: [UInt8]?
    var expiration: Date?

    /// Refreshed a little before it expires, so no request goes out with a dying token.
    func isExpired(now: Date) -> Bool {
        guard let expiration else { return false }
        return now.addingTimeInterval(5) >= expiration
    }

    static func parse(_ output: [UInt8], command: String, apiVersion: String) throws -> ExecCredential {
        let value: Value
        do {
            value = try JSON.parse(bytes: output)
        } catch {
            throw KubernetesError.credentials("exec plugin \(command) printed invalid JSON: \(error)")
        }
        guard value["kind"]?.stringValue == "ExecCredential" else {
            throw KubernetesError.credentials("exec plugin \(command) printed kind \(value["kind"]?.stringValue ?? "(none)"), not ExecCredential")
        }
        if let version = value["apiVersion"]?.stringValue, version != apiVersion {
            throw KubernetesError.credentials("exec plugin \(command) answered \(version), but \(apiVersion) was asked for")
        }
        guard let status = value["status"] else {
            throw KubernetesError.credentials("exec plugin \(command) printed an ExecCredential without status")
        }
        var credential = ExecCredential()
        credential.token = status["token"]?.stringValue
        credential.clientCertificate = status["clientCertificateData"]?.stringValue.map { Array($0.utf8) }
        credential.clientKey = status["clientKeyData"]?.stringValue.map { Array($0.utf8) }
        if credential.token == nil, credential.clientCertificate == nil {
            throw KubernetesError.credentials("exec plugin \(command) returned neither a token nor a client certificate")
        }
        if (credential.clientCertificate == nil) != (credential.clientKey == nil) {
            throw KubernetesError.credentials("exec plugin \(command) returned a client certificate without a key or a key without a certificate")
        }
        if let stamp = status["expirationTimestamp"]?.stringValue {
            guard let date = parseRFC3339(stamp) else {
                throw KubernetesError.credentials("exec plugin \(command): expirationTimestamp \(stamp) is not an RFC 3339 time")
            }
            credential.expiration = date
        }
        return credential
    }
}

enum ExecPlugin {
    /// Runs the plugin on a thread of its own (never on the cooperative pool), bounded by
    /// `exec.timeout`. Its stderr goes into the error message, its stdout is the credential.
    static func run(_ exec: ExecConfig, server: String, certificateAuthority: PEMSource?) async throws -> ExecCredential {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runBlocking(exec, server: server, certificateAuthority: certificateAuthority) })
            }
        }
    }

    private static func runBlocking(_ exec: ExecConfig, server: String, certificateAuthority: PEMSource?) throws -> ExecCredential {
        let process = Process()
        guard let executable = resolve(exec.command) else {
            var message = "exec plugin \(exec.command) not found"
            if let hint = exec.installHint { message += ": \(hint)" }
            throw KubernetesError.credentials(message)
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = exec.arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in exec.environment { environment[key] = value }
        var spec: Value = ["interactive": false]
        if exec.provideClusterInfo {
            var cluster: Value = ["server": .string(server)]
            switch certificateAuthority {
            case .data(let bytes): cluster["certificate-authority-data"] = .string(Data(bytes).base64EncodedString())
            case .file(let path):
                if let data = FileManager.default.contents(atPath: path) {
                    cluster["certificate-authority-data"] = .string(data.base64EncodedString())
                }
            case nil: break
            }
            spec["cluster"] = cluster
        }
        let info: Value = ["apiVersion": .string(exec.apiVersion), "kind": "ExecCredential", "spec": spec]
        environment["KUBERNETES_EXEC_INFO"] = Emit.json(info, pretty: false)
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do {
            try process.run()
        } catch {
            throw KubernetesError.credentials("exec plugin \(exec.command) could not start: \(error.localizedDescription)")
        }
        let output = PipeReader(out), errors = PipeReader(err)
        let (seconds, attoseconds) = exec.timeout.components
        let timeout = Double(seconds) + Double(attoseconds) / 1e18
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if done.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            throw KubernetesError.credentials("exec plugin \(exec.command) did not finish within \(formatSeconds(timeout)) s")
        }
        let stdout = output.wait(), stderr = String(decoding: errors.wait(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw KubernetesError.credentials("exec plugin \(exec.command) exited with status \(process.terminationStatus)\(detail.isEmpty ? "" : ": \(detail.prefix(500))")")
        }
        return try ExecCredential.parse(stdout, command: exec.command, apiVersion: exec.apiVersion)
    }

    private static func resolve(_ command: String) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(command)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

/// Drains a pipe on a thread of its own, so a plugin that writes a lot never blocks.
private final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        Thread.detachNewThread { [self] in
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> [UInt8] {
        done.wait()
        return Array(data)
    }
}

/// RFC 3339 ("2026-01-02T15:04:05Z", fractional seconds and offsets allowed).
func parseRFC3339(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)
}

/// "2026-01-02T15:04:05.123456Z": the MicroTime form of events.k8s.io eventTime.
func formatMicroTime(_ date: Date) -> String {
    let seconds = date.timeIntervalSince1970
    var whole = time_t(seconds.rounded(.down))
    let micros = Int((seconds - Double(whole)) * 1_000_000)
    var parts = tm()
    gmtime_r(&whole, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    let micro = String(micros)
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
        + String(repeating: "0", count: 6 - micro.count) + micro + "Z"
}
