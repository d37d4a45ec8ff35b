import EnsembleCore
import Foundation

/// PEM bytes from a file (read when a connection needs them, so a rotated certificate is
/// picked up) or given inline (kubeconfig `*-data`, exec plugins). Never printed, not even
/// by `dump` (the mirror is the redacted description).
public enum PEMSource: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    case file(String)
    case data([UInt8])

    public var description: String {
        switch self {
        case .file(let path): return "file \(path)"
        case .data(let bytes): return "inline data (\(bytes.count) bytes)"
        }
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["source": description]) }
}

/// An exec credential plugin (kubeconfig `users[].user.exec`).
public struct ExecConfig: Sendable, Equatable {
    public var command: String
    public var arguments: [String]
    public var environment: [String: String]
    /// client.authentication.k8s.io/v1 or v1beta1: the ExecCredential version we send.
    public var apiVersion: String
    public var installHint: String?
    /// Bounds one run of the plugin.
    public var timeout: Duration
    /// Pass the server and its CA to the plugin (KUBERNETES_EXEC_INFO spec.cluster).
    public var provideClusterInfo: Bool

    public init(command: String, arguments: [String] = [], environment: [String: String] = [:],
                apiVersion: String = "client.authentication.k8s.io/v1", installHint: String? = nil,
                timeout: Duration = .seconds(30), provideClusterInfo: Bool = false) {
        self.provideClusterInfo = provideClusterInfo
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.apiVersion = apiVersion
        self.installHint = installHint
        self.timeout = timeout
    }
}

/// How the client proves who it is. Several may be combined (a client certificate and a
/// token), as kubeconfig allows.
public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum Token: Sendable, Equatable {
        case value(String)
        /// Re-read whenever the file changes (projected service-account tokens rotate).
        case file(String)
    }

    public var clientCertificate: PEMSource?
    public var clientKey: PEMSource?
    public var token: Token?
    public var exec: ExecConfig?

    public init(clientCertificate: PEMSource? = nil, clientKey: PEMSource? = nil, token: Token? = nil, exec: ExecConfig? = nil) {
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.token = token
        self.exec = exec
    }

    /// Names the kinds of credential, never their contents.
    public var description: String {
        var parts: [String] = []
        if let clientCertificate { parts.append("client certificate (\(clientCertificate))") }
        switch token {
        case .value: parts.append("bearer token (inline)")
        case .file(let path): parts.append("bearer token file \(path)")
        case nil: break
        }
        if let exec { parts.append("exec plugin \(exec.command)") }
        return parts.isEmpty ? "anonymous" : parts.joined(separator: ", ")
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["credentials": description]) }
}

/// Where and how to reach one API server: what a kubeconfig context or the in-cluster
/// environment resolves to.
public struct ClientConfiguration: Sendable, Equatable {
    /// "https://host:port", optionally with a path prefix.
    public var server: String
    /// The CA that signs the server's certificate. nil trusts the system's CA store (a
    /// kubeconfig without CA, for servers with public certificates). Verification is never off.
    public var certificateAuthority: PEMSource?
    public var credentials: Credentials
    /// Default namespace for namespaced calls that pass none.
    public var namespace: String
    /// Deadline for every request (watches: their timeoutSeconds plus this).
    public var requestTimeout: Duration
    public var connectTimeout: Duration
    public var userAgent: String

    public init(server: String, certificateAuthority: PEMSource?, credentials: Credentials = Credentials(),
                namespace: String = "default", requestTimeout: Duration = .seconds(30),
                connectTimeout: Duration = .seconds(10), userAgent: String = "ensemble-operator") {
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.credentials = credentials
        self.namespace = namespace
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.userAgent = userAgent
    }

    /// In a pod when the service-account environment is there; otherwise the kubeconfig
    /// (`path`, else `$KUBECONFIG`, else `~/.kube/config`) with its current or given context.
    public static func load(kubeconfig path: String? = nil, context: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubernetesError) -> ClientConfiguration {
        if path == nil, context == nil, environment["KUBERNETES_SERVICE_HOST"] != nil, environment["KUBECONFIG"] == nil {
            return try inCluster(environment: environment)
        }
        return try fromKubeconfig(path: path, context: context, environment: environment)
    }

    /// The pod's service account: token (re-read when it rotates), CA and namespace from
    /// `directory`, server from KUBERNETES_SERVICE_HOST/PORT. A missing CA is an error.
    public static func inCluster(directory: String = "/var/run/secrets/kubernetes.io/serviceaccount",
                                 environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubernetesError) -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw .configuration("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        let caPath = directory + "/ca.crt", tokenPath = directory + "/token"
        try requirePEMFile(caPath, what: "in-cluster CA certificate")
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw .configuration("\(tokenPath): service-account token is missing or unreadable")
        }
        var namespace = "default"
        if let text = try? String(contentsOfFile: directory + "/namespace", encoding: .utf8) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { namespace = trimmed }
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClientConfiguration(server: "https://\(hostPart):\(port)", certificateAuthority: .file(caPath),
                                   credentials: Credentials(token: .file(tokenPath)), namespace: namespace)
    }

    /// A kubeconfig context: `context` or the file's current-context. `$KUBECONFIG` may list
    /// several files (':'-separated); the first to define a name wins, as with kubectl.
    public static func fromKubeconfig(path: String? = nil, context: String? = nil,
                                      environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubernetesError) -> ClientConfiguration {
        let paths: [String]
        if let path {
            paths = [path]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            paths = list.split(separator: ":").map(String.init)
        } else {
            paths = [(environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"]
        }
        var merged = Kubeconfig()
        for file in paths {
            guard FileManager.default.fileExists(atPath: file) else {
                if paths.count == 1 { throw .configuration("\(file): kubeconfig not found") }
                continue
            }
            merged.merge(try Kubeconfig.read(file))
        }
        return try merged.resolve(context: context)
    }
}

func requirePEMFile(_ path: String, what: String) throws(KubernetesError) {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .configuration("\(path): \(what) is missing or unreadable")
    }
    try requirePEM(Array(data), what: "\(path): \(what)")
}

/// Catches a CA or certificate that is not PEM before any connection, so the error says
/// which field is wrong instead of a TLS failure later.
func requirePEM(_ bytes: [UInt8], what: String) throws(KubernetesError) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.contains("-----BEGIN "), text.contains("-----END ") else {
        throw .configuration("\(what) is not PEM data (no -----BEGIN line)")
    }
}

/// The parts of a kubeconfig we use, with each entry's file for relative paths and errors.
struct Kubeconfig {
    struct Entry { var value: Value; var file: String }
    var currentContext: String?
    var contexts: [String: Entry] = [:]
    var clusters: [String: Entry] = [:]
    var users: [String: Entry] = [:]

    static func read(_ path: String) throws(KubernetesError) -> Kubeconfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .configuration("\(path): cannot read kubeconfig")
        }
        let documents: [SourceDocument]
        do {
            documents = try ManifestLoader.loadDocuments(yaml: String(decoding: data, as: UTF8.self), source: path)
        } catch {
            throw .configuration(error.description)
        }
        var config = Kubeconfig()
        guard let root = documents.first?.value else { return config }
        guard case .object = root else { throw .configuration("\(path): kubeconfig is not a mapping") }
        config.currentContext = root["current-context"]?.stringValue
        func named(_ key: String, inner: String) throws(KubernetesError) -> [String: Entry] {
            var result: [String: Entry] = [:]
            for (index, item) in (root[key]?.arrayValue ?? []).enumerated() {
                guard let name = item["name"]?.stringValue else {
                    throw .configuration("\(path): \(key)[\(index)] has no name")
                }
                if result[name] == nil { result[name] = Entry(value: item[inner] ?? [:], file: path) }
            }
            return result
        }
        config.contexts = try named("contexts", inner: "context")
        config.clusters = try named("clusters", inner: "cluster")
        config.users = try named("users", inner: "user")
        return config
    }

    mutating func merge(_ other: Kubeconfig) {
        if currentContext == nil || currentContext == "" { currentContext = other.currentContext }
        contexts.merge(other.contexts) { first, _ in first }
        clusters.merge(other.clusters) { first, _ in first }
        users.merge(other.users) { first, _ in first }
    }

    func resolve(context requested: String?) throws(KubernetesError) -> ClientConfiguration {
        guard let contextName = requested ?? currentContext, !contextName.isEmpty else {
            throw .configuration("kubeconfig has no current-context; pass a context")
        }
        guard let context = contexts[contextName] else {
            throw .configuration("kubeconfig has no context \"\(contextName)\" (contexts: \(contexts.keys.sorted().joined(separator: ", ")))")
        }
        guard let clusterName = context.value["cluster"]?.stringValue, let cluster = clusters[clusterName] else {
            throw .configuration("\(context.file): context \"\(contextName)\" names cluster \"\(context.value["cluster"]?.stringValue ?? "")\", which is not defined")
        }
        let where_ = "\(cluster.file): cluster \"\(clusterName)\""
        guard let server = cluster.value["server"]?.stringValue, !server.isEmpty else {
            throw .configuration("\(where_) has no server")
        }
        guard server.hasPrefix("https://") else {
            throw .configuration("\(where_): server \(server) is not https; plain HTTP would send credentials in the clear")
        }
        if cluster.value["insecure-skip-tls-verify"]?.boolValue == true {
            throw .configuration("\(where_) sets insecure-skip-tls-verify; this client always verifies the server (give certificate-authority or certificate-authority-data)")
        }
        let ca = try pem(cluster, fileKey: "certificate-authority", dataKey: "certificate-authority-data", what: "\(where_) certificate-authority")
        var credentials = Credentials()
        if let userName = context.value["user"]?.stringValue, !userName.isEmpty {
            guard let user = users[userName] else {
                throw .configuration("\(context.file): context \"\(contextName)\" names user \"\(userName)\", which is not defined")
            }
            credentials = try self.credentials(user, name: userName)
        }
        var namespace = context.value["namespace"]?.stringValue ?? "default"
        if namespace.isEmpty { namespace = "default" }
        return ClientConfiguration(server: server, certificateAuthority: ca, credentials: credentials, namespace: namespace)
    }

    private func credentials(_ user: Entry, name: String) throws(KubernetesError) -> Credentials {
        let where_ = "\(user.file): user \"\(name)\""
        for unsupported in ["auth-provider", "username", "password"] where user.value[unsupported] != nil {
            throw .configuration("\(where_) uses \(unsupported), which this client does not support (use a token, client certificate or exec plugin)")
        }
        var credentials = Credentials()
        credentials.clientCertificate = try pem(user, fileKey: "client-certificate", dataKey: "client-certificate-data", what: "\(where_) client-certificate")
        credentials.clientKey = try pem(user, fileKey: "client-key", dataKey: "client-key-data", what: "\(where_) client-key")
        if (credentials.clientCertificate == nil) != (credentials.clientKey == nil) {
            throw .configuration("\(where_) has a client certificate without a key or a key without a certificate")
        }
        if let token = user.value["token"]?.stringValue, !token.isEmpty {
            credentials.token = .value(token)
        } else if let file = user.value["tokenFile"]?.stringValue, !file.isEmpty {
            credentials.token = .file(absolute(file, relativeTo: user.file))
        }
        if let exec = user.value["exec"] {
            guard let command = exec["command"]?.stringValue, !command.isEmpty else {
                throw .configuration("\(where_): exec has no command")
            }
            var environment: [String: String] = [:]
            for item in exec["env"]?.arrayValue ?? [] {
                if let key = item["name"]?.stringValue { environment[key] = item["value"]?.stringValue ?? "" }
            }
            let apiVersion = exec["apiVersion"]?.stringValue ?? "client.authentication.k8s.io/v1"
            guard apiVersion == "client.authentication.k8s.io/v1" || apiVersion == "client.authentication.k8s.io/v1beta1" else {
                throw .configuration("\(where_): exec apiVersion \(apiVersion) is not supported (v1 or v1beta1)")
            }
            // A bare command name is looked up on PATH; a relative path is relative to the kubeconfig.
            let resolved = command.contains("/") ? absolute(command, relativeTo: user.file) : command
            credentials.exec = ExecConfig(command: resolved, arguments: exec["args"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                                          environment: environment, apiVersion: apiVersion,
                                          installHint: exec["installHint"]?.stringValue,
                                          provideClusterInfo: exec["provideClusterInfo"]?.boolValue ?? false)
        }
        return credentials
    }

    private func pem(_ entry: Entry, fileKey: String, dataKey: String, what: String) throws(KubernetesError) -> PEMSource? {
        if let data = entry.value[dataKey]?.stringValue, !data.isEmpty {
            guard let decoded = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                throw .configuration("\(what)-data is not valid base64")
            }
            try requirePEM(Array(decoded), what: "\(what)-data")
            return .data(Array(decoded))
        }
        if let file = entry.value[fileKey]?.stringValue, !file.isEmpty {
            let path = absolute(file, relativeTo: entry.file)
            try requirePEMFile(path, what: what)
            return .file(path)
        }
        return nil
    }

    private func absolute(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL.path
    }
}
