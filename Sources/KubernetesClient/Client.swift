import EnsembleCore
import Foundation

/// A Kubernetes API client over libcurl. See README.md in this folder for the overview.
///
/// Every call has a deadline (`ClientConfiguration.requestTimeout`, or the `timeout`
/// argument), never blocks Swift's cooperative threads (libcurl runs on a thread of its own,
/// see Transport.swift), and fails with a `KubernetesError` carrying the API server's Status
/// (code, reason, message) or with `CancellationError` when the calling task is cancelled.
/// Connections are kept alive and shared by all calls of one client: make one client per
/// process and share it.
public final class KubernetesClient: Sendable {
    public let configuration: ClientConfiguration
    private let transport: Transport
    private let credentials: CredentialProvider
    private let observer: (any RequestObserver)?

    /// For `list` and `watch`: every namespace.
    public static let allNamespaces = ""

    public init(_ configuration: ClientConfiguration, observer: (any RequestObserver)? = nil) throws(KubernetesError) {
        guard configuration.server.hasPrefix("https://") else {
            throw .configuration("server \(configuration.server) is not https")
        }
        if case .data(let bytes) = configuration.certificateAuthority {
            try requirePEM(bytes, what: "certificate-authority-data")
        }
        if case .file(let path) = configuration.certificateAuthority {
            try requirePEMFile(path, what: "certificate authority")
        }
        self.configuration = configuration
        self.observer = observer
        transport = Transport(maxResponseBytes: JSONLimits.defaultMaxBytes)
        credentials = CredentialProvider(configuration.credentials, server: configuration.server,
                                         certificateAuthority: configuration.certificateAuthority)
    }

    /// The configuration's default namespace.
    public var namespace: String { configuration.namespace }

    // MARK: Typed verbs

    /// GET one object. 404 throws `KubernetesError.api` with `isNotFound`.
    public func get(_ type: ResourceType, name: String, namespace: String? = nil, timeout: Duration? = nil) async throws -> KubeObject {
        let value = try await json(verb: "get", resource: type, method: "GET",
                                   path: type.objectPath(name: name, namespace: resolve(namespace, type)), timeout: timeout)
        return KubeObject(value)
    }

    /// One page of a list (`options.limit`, `options.continueToken`). `namespace` nil is the
    /// default namespace, `KubernetesClient.allNamespaces` every namespace.
    public func list(_ type: ResourceType, namespace: String? = nil, options: ListOptions = ListOptions(),
                     timeout: Duration? = nil) async throws -> ObjectList {
        let value = try await json(verb: "list", resource: type, method: "GET",
                                   path: type.collectionPath(namespace: listNamespace(namespace, type)),
                                   query: options.query, timeout: timeout)
        guard let items = value["items"]?.arrayValue ?? (value["items"] == .null ? [] : nil) else {
            throw KubernetesError.invalidResponse(method: "GET", path: type.collectionPath(namespace: listNamespace(namespace, type)),
                                                  message: "list has no items array")
        }
        // Items of a list carry no apiVersion/kind; add them so every KubeObject is complete.
        let objects = items.map { item -> KubeObject in
            var item = item
            if item["apiVersion"] == nil { item["apiVersion"] = .string(type.apiVersion) }
            if item["kind"] == nil { item["kind"] = .string(type.kind) }
            return KubeObject(item)
        }
        let metadata = value["metadata"]
        let token = metadata?["continue"]?.stringValue
        return ObjectList(items: objects, resourceVersion: metadata?["resourceVersion"]?.stringValue ?? "",
                          continueToken: token?.isEmpty == false ? token : nil,
                          remainingItemCount: metadata?["remainingItemCount"]?.intValue)
    }

    /// Every page of a list, following continue tokens (`options.limit` per page, 500 if
    /// unset). The result's resourceVersion is the first page's: the snapshot all pages share.
    public func listAll(_ type: ResourceType, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> ObjectList {
        var options = options
        if options.limit == nil { options.limit = 500 }
        var page = try await list(type, namespace: namespace, options: options)
        var all = page
        while let token = page.continueToken {
            options.continueToken = token
            page = try await list(type, namespace: namespace, options: options)
            all.items += page.items
        }
        all.continueToken = nil
        all.remainingItemCount = nil
        return all
    }

    /// POST a new object. 409 AlreadyExists when the name is taken.
    public func create(_ type: ResourceType, _ object: Value, namespace: String? = nil, timeout: Duration? = nil) async throws -> KubeObject {
        let value = try await json(verb: "create", resource: type, method: "POST",
                                   path: type.collectionPath(namespace: resolve(namespace ?? object.lookup("metadata.namespace")?.stringValue, type)),
                                   body: object, timeout: timeout)
        return KubeObject(value)
    }

    /// PUT the whole object. Its metadata.resourceVersion makes this a compare-and-swap:
    /// 409 Conflict when the object changed since it was read.
    public func replace(_ type: ResourceType, _ object: Value, namespace: String? = nil, subresource: String? = nil,
                        timeout: Duration? = nil) async throws -> KubeObject {
        let name = try objectName(object, type)
        let value = try await json(verb: "update", resource: type, method: "PUT",
                                   path: type.objectPath(name: name, namespace: resolve(namespace ?? object.lookup("metadata.namespace")?.stringValue, type),
                                                         subresource: subresource),
                                   body: object, timeout: timeout)
        return KubeObject(value)
    }

    /// Server-side apply (`application/apply-patch+yaml`): the server merges `object` (the
    /// fields we want, and only those) and records `options.fieldManager` as their owner.
    /// A field another manager owns is a 409 Conflict unless `options.force`.
    /// `subresource: "status"` applies to the status subresource.
    public func apply(_ type: ResourceType, _ object: Value, namespace: String? = nil, subresource: String? = nil,
                      options: ApplyOptions = ApplyOptions(), timeout: Duration? = nil) async throws -> KubeObject {
        let name = try objectName(object, type)
        var object = object
        if object["apiVersion"] == nil { object["apiVersion"] = .string(type.apiVersion) }
        if object["kind"] == nil { object["kind"] = .string(type.kind) }
        var query = [("fieldManager", options.fieldManager)]
        if options.force { query.append(("force", "true")) }
        if options.dryRun { query.append(("dryRun", "All")) }
        // JSON is YAML, so the apply body can be sent as JSON under the YAML media type.
        let value = try await json(verb: "apply", resource: type, method: "PATCH",
                                   path: type.objectPath(name: name, namespace: resolve(namespace ?? object.lookup("metadata.namespace")?.stringValue, type),
                                                         subresource: subresource),
                                   query: query, body: object, contentType: "application/apply-patch+yaml", timeout: timeout)
        return KubeObject(value)
    }

    /// PATCH an object (merge, JSON or strategic-merge patch).
    public func patch(_ type: ResourceType, name: String, namespace: String? = nil, subresource: String? = nil,
                      patch: Value, patchType: PatchType = .merge, fieldManager: String = ApplyOptions.operatorFieldManager,
                      timeout: Duration? = nil) async throws -> KubeObject {
        let value = try await json(verb: "patch", resource: type, method: "PATCH",
                                   path: type.objectPath(name: name, namespace: resolve(namespace, type), subresource: subresource),
                                   query: [("fieldManager", fieldManager)], body: patch, contentType: patchType.rawValue, timeout: timeout)
        return KubeObject(value)
    }

    /// PATCH the status subresource: spec and metadata in `patch` are ignored by the server.
    public func patchStatus(_ type: ResourceType, name: String, namespace: String? = nil, patch: Value,
                            patchType: PatchType = .merge, fieldManager: String = ApplyOptions.operatorFieldManager,
                            timeout: Duration? = nil) async throws -> KubeObject {
        try await self.patch(type, name: name, namespace: namespace, subresource: "status", patch: patch,
                             patchType: patchType, fieldManager: fieldManager, timeout: timeout)
    }

    /// DELETE with preconditions and a propagation policy. `.pending` when the object stays
    /// (finalizers or foreground deletion); 404 when it does not exist; 409 when a
    /// precondition fails.
    public func delete(_ type: ResourceType, name: String, namespace: String? = nil,
                       options: DeleteOptions = DeleteOptions(), timeout: Duration? = nil) async throws -> DeleteResult {
        let value = try await json(verb: "delete", resource: type, method: "DELETE",
                                   path: type.objectPath(name: name, namespace: resolve(namespace, type)),
                                   body: options.body, timeout: timeout)
        if APIStatus(value) != nil { return .deleted }
        let object = KubeObject(value)
        return object.isBeingDeleted ? .pending(object) : .deleted
    }

    /// Records an events.k8s.io/v1 Event in the regarding object's namespace.
    @discardableResult
    public func recordEvent(_ event: EventRecord, timeout: Duration? = nil) async throws -> KubeObject {
        let now = Date()
        let regarding = event.regarding
        let namespace = regarding.namespace ?? configuration.namespace
        let name = "\(regarding.name ?? "object").\(String(UInt64(now.timeIntervalSince1970 * 1_000_000), radix: 16))"
        var reference = Object()
        reference["apiVersion"] = regarding.apiVersion.map(Value.string)
        reference["kind"] = regarding.kind.map(Value.string)
        reference["namespace"] = regarding.namespace.map(Value.string)
        reference["name"] = regarding.name.map(Value.string)
        reference["uid"] = regarding.uid.map(Value.string)
        reference["resourceVersion"] = regarding.resourceVersion.map(Value.string)
        let body: Value = [
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "eventTime": .string(formatMicroTime(now)),
            "reportingController": .string(event.reportingController),
            "reportingInstance": .string(event.reportingInstance),
            "action": .string(event.action), "reason": .string(event.reason),
            "regarding": .object(reference), "note": .string(String(event.note.prefix(1024))),
            "type": .string(event.type.rawValue),
        ]
        return try await create(.events, body, namespace: namespace, timeout: timeout)
    }

    // MARK: Raw requests

    /// A request to any path (discovery, the fake server's control endpoints). Does not throw
    /// for HTTP error statuses: the caller reads `status`.
    public func send(method: String, path: String, query: [(String, String)] = [], body: Value? = nil,
                     contentType: String = "application/json", timeout: Duration? = nil) async throws -> RawResponse {
        let response = try await perform(verb: method.lowercased(), resourceName: path, method: method, path: path, query: query,
                                         body: body, contentType: contentType, timeout: timeout)
        return RawResponse(status: response.status, contentType: response.contentType, body: response.body)
    }

    // MARK: Internals

    func resolve(_ namespace: String?, _ type: ResourceType) -> String? {
        guard type.namespaced else { return nil }
        if let namespace, !namespace.isEmpty { return namespace }
        return configuration.namespace
    }

    func listNamespace(_ namespace: String?, _ type: ResourceType) -> String? {
        guard type.namespaced else { return nil }
        if namespace == KubernetesClient.allNamespaces { return nil }
        return namespace ?? configuration.namespace
    }

    private func objectName(_ object: Value, _ type: ResourceType) throws -> String {
        guard let name = object.lookup("metadata.name")?.stringValue, !name.isEmpty else {
            throw KubernetesError.configuration("\(type.kind) object has no metadata.name")
        }
        return name
    }

    /// A request whose 2xx answer is JSON; other statuses throw `.api` with the Status.
    func json(verb: String, resource: ResourceType, method: String, path: String, query: [(String, String)] = [],
              body: Value? = nil, contentType: String = "application/json", timeout: Duration?) async throws -> Value {
        let response = try await perform(verb: verb, resourceName: resource.description, method: method, path: path,
                                         query: query, body: body, contentType: contentType, timeout: timeout)
        guard (200..<300).contains(response.status) else {
            throw KubernetesError.api(method: method, path: path, status: Self.status(of: response))
        }
        do {
            return try JSON.parse(bytes: response.body)
        } catch {
            throw KubernetesError.invalidResponse(method: method, path: path, message: "body is not JSON: \(error)")
        }
    }

    /// The Status an error answer carries, or one made from the HTTP status.
    static func status(of response: HTTPResponse) -> APIStatus {
        if let value = try? JSON.parse(bytes: response.body), let status = APIStatus(value) {
            var status = status
            if status.code == 0 { status.code = response.status }
            return status
        }
        let text = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return APIStatus(code: response.status, reason: reasonPhrase(response.status), message: text)
    }

    static func reasonPhrase(_ code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }

    func url(path: String, query: [(String, String)]) -> String {
        var server = configuration.server
        while server.hasSuffix("/") { server.removeLast() }
        var url = server + path
        if !query.isEmpty {
            url += "?" + query.map { "\(percentEncodeQueryValue($0.0))=\(percentEncodeQueryValue($0.1))" }.joined(separator: "&")
        }
        return url
    }

    /// Builds the request with current credentials; retries once after a 401 when the
    /// credentials can be refreshed (a rotated token file, an exec credential revoked early).
    func prepare(method: String, path: String, query: [(String, String)], body: Value?, contentType: String,
                 accept: String = "application/json", timeout: Duration) async throws -> HTTPRequest {
        let presented = try await credentials.current()
        var headers = ["Accept: \(accept)"]
        if body != nil { headers.append("Content-Type: \(contentType)") }
        if let token = presented.bearerToken { headers.append("Authorization: Bearer \(token)") }
        return HTTPRequest(method: method, url: url(path: path, query: query), headers: headers,
                           body: body.map { Array(Emit.json($0, pretty: false).utf8) },
                           timeout: timeout, connectTimeout: configuration.connectTimeout,
                           tls: TLSSettings(certificateAuthority: configuration.certificateAuthority,
                                            clientCertificate: presented.clientCertificate, clientKey: presented.clientKey),
                           userAgent: configuration.userAgent)
    }

    func perform(verb: String, resourceName: String, method: String, path: String, query: [(String, String)],
                 body: Value?, contentType: String, timeout: Duration?) async throws -> HTTPResponse {
        let deadline = timeout ?? configuration.requestTimeout
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            let request = try await prepare(method: method, path: path, query: query, body: body,
                                            contentType: contentType, timeout: deadline)
            do {
                let response = try await transport.perform(request)
                observer?.requestFinished(verb: verb, resource: resourceName, code: response.status, seconds: elapsed(since: started))
                if response.status == 401, attempt == 1, credentials.canRefresh {
                    await credentials.invalidate()
                    continue
                }
                return response
            } catch let failure as TransferFailure {
                observer?.requestFinished(verb: verb, resource: resourceName, code: nil, seconds: elapsed(since: started))
                throw Self.error(failure, method: method, path: path, timeout: deadline)
            }
        }
    }

    static func error(_ failure: TransferFailure, method: String, path: String, timeout: Duration) -> Error {
        switch failure {
        case .cancelled: return CancellationError()
        case .timedOut: return KubernetesError.deadlineExceeded(method: method, path: path, seconds: seconds(timeout))
        case .tooLarge(let limit):
            return KubernetesError.invalidResponse(method: method, path: path, message: "answer larger than \(limit) bytes")
        case .shutDown:
            return KubernetesError.transport(method: method, path: path, curlCode: 0, message: "the client was shut down")
        case .curl(let code, let message):
            return KubernetesError.transport(method: method, path: path, curlCode: code, message: message)
        }
    }

    // Watches need the transport and credentials too (Watch.swift).
    var transportForWatch: Transport { transport }
    var observerForWatch: (any RequestObserver)? { observer }
    var credentialsForWatch: CredentialProvider { credentials }
}

/// The answer to a raw request.
public struct RawResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    /// The body parsed as JSON.
    public func json() throws -> Value { try JSON.parse(bytes: body) }
}

func elapsed(since start: ContinuousClock.Instant) -> Double {
    seconds(ContinuousClock.now - start)
}

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) / 1e18
}
