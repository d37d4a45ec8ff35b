import EnsembleCore
import Foundation
import KubernetesClient
import ZooKeeperTestSupport

/// The fake Kubernetes API server (scripts/fakeapi, Python) as a process owned by a test.
///
/// It serves the real wire protocol over HTTPS on 127.0.0.1 and a free port, with a CA, a
/// server certificate and an admin client certificate made by `openssl` in a fresh
/// directory, and the Ensemble CRD (charts/.../crds) installed. What it models and what it
/// does not: the opening comment of scripts/fakeapi/__main__.py.
///
/// Use `withFakeAPIServer { server in ... }`: the server is stopped when the body returns or
/// throws. It also exits by itself when the test process dies.
public final class FakeAPIServer: Sendable {
    public struct Options: Sendable {
        /// BOOKMARK events every this many seconds on watches that allow them.
        public var bookmarkInterval: Double
        /// Watch events kept; a watch from an older resourceVersion gets 410 Gone.
        public var historyLimit: Int
        /// Extra command-line arguments for the fake.
        public var extraArguments: [String]

        public init(bookmarkInterval: Double = 1, historyLimit: Int = 10_000, extraArguments: [String] = []) {
            self.bookmarkInterval = bookmarkInterval
            self.historyLimit = historyLimit
            self.extraArguments = extraArguments
        }
    }

    /// A fault rule: matching requests fail (or are delayed) `times` times.
    public struct Fault: Sendable {
        /// get, list, watch, create, update, patch, apply, delete, or "*".
        public var verb: String
        /// Plural ("statefulsets"), or "*".
        public var resource: String
        public var name: String?
        public var namespace: String?
        public var subresource: String?
        /// HTTP status to answer with (nil: no error, only the delay).
        public var code: Int?
        public var reason: String?
        public var message: String?
        /// Answer with these raw bytes (and `code`, 200 if nil) instead of anything the API
        /// server would say: a broken proxy, a garbage watch line.
        public var body: String?
        /// Seconds to wait before answering (or failing).
        public var delaySeconds: Double
        /// How many matching requests it applies to; nil: until cleared.
        public var times: Int?

        public init(verb: String = "*", resource: String = "*", name: String? = nil, namespace: String? = nil,
                    subresource: String? = nil, code: Int? = nil, reason: String? = nil, message: String? = nil,
                    body: String? = nil, delaySeconds: Double = 0, times: Int? = 1) {
            self.body = body
            self.verb = verb
            self.resource = resource
            self.name = name
            self.namespace = namespace
            self.subresource = subresource
            self.code = code
            self.reason = reason
            self.message = message
            self.delaySeconds = delaySeconds
            self.times = times
        }

        var value: Value {
            var object = Object([("verb", .string(verb)), ("resource", .string(resource)), ("delaySeconds", .double(delaySeconds))])
            object["name"] = name.map(Value.string)
            object["namespace"] = namespace.map(Value.string)
            object["subresource"] = subresource.map(Value.string)
            object["code"] = code.map(Value.int)
            object["reason"] = reason.map(Value.string)
            object["message"] = message.map(Value.string)
            object["body"] = body.map(Value.string)
            object["times"] = times.map(Value.int)
            return .object(object)
        }
    }

    /// The fake's own count of requests it served (since start or `resetRequestCounts`).
    public struct RequestCounts: Sendable {
        /// By verb (get, list, watch, create, update, patch, apply, delete).
        public var byVerb: [String: Int]
        /// create + update + patch + apply + delete on resources (not the /fake endpoints).
        public var writes: Int
        public var total: Int
        /// TCP connections accepted (each one a TLS handshake).
        public var connections: Int
    }

    /// Where the certificates, kubeconfigs and the server's log live.
    public let directory: URL
    public let port: Int
    /// "https://127.0.0.1:PORT".
    public let server: String
    private let process: Process
    private let admin: KubernetesClient

    /// kubeconfig with the admin client certificate (inline data) and the CA: for kubectl.
    public var kubeconfigPath: String { directory.appendingPathComponent("kubeconfig").path }
    /// kubeconfig authenticating with the bearer token in `tokenPath` (a tokenFile entry).
    public var tokenKubeconfigPath: String { directory.appendingPathComponent("kubeconfig-token").path }
    /// The bearer token file the fake accepts at start.
    public var tokenPath: String { directory.appendingPathComponent("token").path }
    public var caPath: String { directory.appendingPathComponent("ca.crt").path }
    public var logPath: String { directory.appendingPathComponent("server.log").path }

    /// Starts the fake and waits (at most 30 s) until it serves.
    public static func start(_ options: Options = Options()) async throws -> FakeAPIServer {
        let directory = try temporaryDirectory("fakeapi")
        let root = repositoryRoot()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/fakeapi").path,
                             "--dir", directory.path,
                             "--crd", root.appendingPathComponent("charts/ensemble-operator/crds/ensembles.ensemble.dev.yaml").path,
                             "--parent-pid", String(getpid()),
                             "--bookmark-interval", String(options.bookmarkInterval),
                             "--history", String(options.historyLimit)] + options.extraArguments
        let log = FileManager.default.createFile(atPath: directory.appendingPathComponent("server.log").path, contents: nil)
        precondition(log)
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent("server.log"))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let portFile = directory.appendingPathComponent("port")
        let deadline = ContinuousClock.now + .seconds(30)
        var port: Int?
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = value
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let port else {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            let output = (try? String(contentsOfFile: directory.appendingPathComponent("server.log").path, encoding: .utf8)) ?? ""
            throw FakeAPIServerError(description: "the fake API server did not start within 30 s (log \(directory.path)/server.log):\n\(output.suffix(3000))")
        }
        let configuration = try ClientConfiguration.fromKubeconfig(path: directory.appendingPathComponent("kubeconfig").path)
        return FakeAPIServer(directory: directory, port: port, process: process, admin: try KubernetesClient(configuration))
    }

    private init(directory: URL, port: Int, process: Process, admin: KubernetesClient) {
        self.directory = directory
        self.port = port
        server = "https://127.0.0.1:\(port)"
        self.process = process
        self.admin = admin
    }

    deinit { stop() }

    /// Stops the server. It keeps nothing worth a graceful shutdown, so SIGKILL. Safe to call twice.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Client configuration with the admin client certificate.
    public func configuration(namespace: String = "default") throws -> ClientConfiguration {
        var configuration = try ClientConfiguration.fromKubeconfig(path: kubeconfigPath)
        configuration.namespace = namespace
        return configuration
    }

    /// A client with the admin client certificate.
    public func client(namespace: String = "default", observer: (any RequestObserver)? = nil) throws -> KubernetesClient {
        try KubernetesClient(configuration(namespace: namespace), observer: observer)
    }

    // MARK: Control interface (the fake's /fake/ endpoints)

    /// Adds a fault rule.
    public func inject(_ fault: Fault) async throws { try await control("POST", "/fake/faults", fault.value) }
    public func clearFaults() async throws { try await control("DELETE", "/fake/faults") }
    /// Ends every open watch stream at once (clients see the stream end and must resume).
    public func dropWatches() async throws { try await control("POST", "/fake/watches/drop") }
    /// Forgets the event history: watches from any earlier resourceVersion, and continue
    /// tokens issued before, get 410 Gone.
    public func compact() async throws { try await control("POST", "/fake/compact") }
    /// Sends a BOOKMARK now on every watch that allows them.
    public func sendBookmarks() async throws { try await control("POST", "/fake/bookmarks") }
    /// Replaces the set of valid bearer tokens.
    public func setTokens(_ tokens: [String]) async throws {
        try await control("PUT", "/fake/tokens", ["tokens": .array(tokens.map(Value.string))])
    }
    /// Marks a pod ready or not (its Ready condition, container statuses, and the owning
    /// StatefulSet's status follow).
    public func setPodReady(namespace: String = "default", name: String, ready: Bool) async throws {
        try await control("POST", "/fake/pods/\(namespace)/\(name)/ready", ["ready": .bool(ready)])
    }
    /// Pods deleted as on a node: a DELETE only marks them (deletionTimestamp), a DELETE with
    /// gracePeriodSeconds 0 (what a kubelet sends once the containers stopped) removes them.
    /// `KubeletBridge` turns it on and plays that kubelet.
    public func setGracefulPodDeletion(_ enabled: Bool) async throws {
        try await control("POST", "/fake/pods/graceful", ["enabled": .bool(enabled)])
    }
    /// Merges `status` into a pod's status (podIP, phase, containerStatuses...).
    public func patchPodStatus(namespace: String = "default", name: String, status: Value) async throws {
        try await control("POST", "/fake/pods/\(namespace)/\(name)/status", status)
    }
    public func requestCounts() async throws -> RequestCounts {
        let value = try await control("GET", "/fake/requests")
        var byVerb: [String: Int] = [:]
        for (key, count) in value["byVerb"]?.objectValue ?? Object() { byVerb[key] = count.intValue ?? 0 }
        return RequestCounts(byVerb: byVerb, writes: value["writes"]?.intValue ?? 0, total: value["total"]?.intValue ?? 0,
                             connections: value["connections"]?.intValue ?? 0)
    }
    public func resetRequestCounts() async throws { try await control("DELETE", "/fake/requests") }

    @discardableResult
    private func control(_ method: String, _ path: String, _ body: Value? = nil) async throws -> Value {
        let response = try await admin.send(method: method, path: path, body: body)
        let value = response.body.isEmpty ? Value.null : try response.json()
        guard (200..<300).contains(response.status) else {
            throw KubernetesError.api(method: method, path: path, status: APIStatus(value)
                ?? APIStatus(code: response.status, reason: "", message: String(decoding: response.body, as: UTF8.self)))
        }
        return value
    }

    static func repositoryRoot() -> URL {
        // Sources/KubernetesTestSupport/FakeAPIServer.swift -> the repository.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

public struct FakeAPIServerError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `body` with a started fake API server and stops it afterwards, even on failure. Its
/// directory is removed after a body that returned; after one that threw, it is kept and its
/// server log named on stderr.
public func withFakeAPIServer<T>(_ options: FakeAPIServer.Options = FakeAPIServer.Options(),
                                 _ body: (FakeAPIServer) async throws -> T) async throws -> T {
    let server = try await FakeAPIServer.start(options)
    do {
        let result = try await body(server)
        server.stop()
        do {
            try FileManager.default.removeItem(at: server.directory)
        } catch {
            FileHandle.standardError.write(Data("could not remove \(server.directory.path): \(error)\n".utf8))
        }
        return result
    } catch {
        server.stop()
        FileHandle.standardError.write(Data("fake API server log kept: \(server.logPath)\n".utf8))
        throw error
    }
}
