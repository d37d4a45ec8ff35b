import EnsembleCore
import Synchronization

/// One event of a raw watch stream.
public enum WatchEvent: Sendable, Equatable {
    case added(KubeObject)
    case modified(KubeObject)
    case deleted(KubeObject)
    /// No change, but everything up to this resourceVersion has been sent: resume from here.
    case bookmark(resourceVersion: String)

    public var object: KubeObject? {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): return object
        case .bookmark: return nil
        }
    }

    /// The resourceVersion to resume from after this event.
    public var resourceVersion: String? {
        switch self {
        case .bookmark(let version): return version
        default: return object?.resourceVersion
        }
    }
}

extension KubernetesClient {
    /// Opens a watch and returns once the server accepted it (so 403, 404 or a 410 for a
    /// too-old resourceVersion throw here). The stream then yields events until the server
    /// ends the watch (`options.timeoutSeconds`; the stream finishes normally), and throws
    /// `KubernetesError.api` for an ERROR event (410 Expired: list afresh), a transport
    /// failure or the deadline (timeoutSeconds + requestTimeout). Ending iteration or
    /// cancelling the task closes the connection. `ResourceWatcher` adds re-listing and
    /// reconnection on top.
    public func watch(_ type: ResourceType, namespace: String? = nil,
                      options: WatchOptions = WatchOptions()) async throws -> AsyncThrowingStream<WatchEvent, Error> {
        let path = type.collectionPath(namespace: listNamespace(namespace, type))
        let timeout = Duration.seconds(options.timeoutSeconds) + configuration.requestTimeout
        var attempt = 0
        while true {
            attempt += 1
            let request = try await prepare(method: "GET", path: path, query: options.query, body: nil,
                                            contentType: "application/json", timeout: timeout)
            let started = ContinuousClock.now
            let (stream, continuation) = AsyncThrowingStream<WatchEvent, Error>.makeStream()
            let transport = transportForWatch
            let handler = WatchHandler(type: type, path: path, timeout: timeout, events: continuation, transport: transport)
            let opened: Result<Void, Error> = await withTaskCancellationHandler {
                await withCheckedContinuation { (opening: CheckedContinuation<Result<Void, Error>, Never>) in
                    handler.start(opening: opening) { transport.stream(request, handler: handler) }
                }
            } onCancel: {
                handler.cancel(transport)
            }
            observerForWatch?.requestFinished(verb: "watch", resource: type.description, code: handler.openedStatus,
                                              seconds: elapsed(since: started))
            switch opened {
            case .success:
                continuation.onTermination = { _ in handler.cancel(transport) }
                return stream
            case .failure(let error as KubernetesError) where error.isUnauthorized && attempt == 1 && credentialsForWatch.canRefresh:
                await credentialsForWatch.invalidate()
                continue
            case .failure(let error):
                throw error
            }
        }
    }
}

/// Splits a watch body into lines (one JSON event per line) on the I/O thread and yields
/// the events; answers the opening continuation with the status.
private final class WatchHandler: StreamHandler, @unchecked Sendable {
    private struct State {
        var opening: CheckedContinuation<Result<Void, Error>, Never>?
        var transfer: Transfer?
        var cancelled = false
        var finished = false
        var status: Int?
    }

    private let type: ResourceType
    private let path: String
    private let timeout: Duration
    private let events: AsyncThrowingStream<WatchEvent, Error>.Continuation
    private let transport: Transport
    private let state = Mutex(State())
    // I/O thread only.
    private var line: [UInt8] = []

    init(type: ResourceType, path: String, timeout: Duration, events: AsyncThrowingStream<WatchEvent, Error>.Continuation,
         transport: Transport) {
        self.transport = transport
        self.type = type
        self.path = path
        self.timeout = timeout
        self.events = events
    }

    var openedStatus: Int? { state.withLock { $0.status } }

    func start(opening: CheckedContinuation<Result<Void, Error>, Never>, submit: () -> Transfer) {
        let cancelledEarly = state.withLock { state -> Bool in
            state.opening = opening
            return state.cancelled
        }
        if cancelledEarly {
            resumeOpening(.failure(CancellationError()))
            return
        }
        let transfer = submit()
        state.withLock { $0.transfer = transfer }
    }

    func cancel(_ transport: Transport) {
        let transfer = state.withLock { state -> Transfer? in
            state.cancelled = true
            return state.finished ? nil : state.transfer
        }
        if let transfer { transport.cancel(transfer) } else { resumeOpening(.failure(CancellationError())) }
    }

    private func resumeOpening(_ result: Result<Void, Error>) {
        let opening = state.withLock { state -> CheckedContinuation<Result<Void, Error>, Never>? in
            defer { state.opening = nil }
            return state.opening
        }
        opening?.resume(returning: result)
    }

    func opened(status: Int) {
        state.withLock { $0.status = status }
        // An error status is reported with its body, in `finished`.
        if (200..<300).contains(status) { resumeOpening(.success(())) }
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        if state.withLock({ $0.finished }) { return }
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            line.append(contentsOf: bytes[start..<index])
            start = index + 1
            if !deliverLine() { return }
        }
        line.append(contentsOf: bytes[start..<bytes.count])
        if line.count > JSONLimits.defaultMaxBytes {
            fail(KubernetesError.invalidResponse(method: "GET", path: path, message: "watch event larger than \(JSONLimits.defaultMaxBytes) bytes"))
        }
    }

    /// Parses and yields one complete line; false once the stream has failed.
    private func deliverLine() -> Bool {
        defer { line.removeAll(keepingCapacity: true) }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return true }
        do {
            let value = try JSON.parse(bytes: line)
            guard let kind = value["type"]?.stringValue, let objectValue = value["object"] else {
                throw KubernetesError.invalidResponse(method: "GET", path: path, message: "watch event without type or object")
            }
            var object = objectValue
            if object["apiVersion"] == nil { object["apiVersion"] = .string(type.apiVersion) }
            if object["kind"] == nil { object["kind"] = .string(type.kind) }
            switch kind {
            case "ADDED": events.yield(.added(KubeObject(object)))
            case "MODIFIED": events.yield(.modified(KubeObject(object)))
            case "DELETED": events.yield(.deleted(KubeObject(object)))
            case "BOOKMARK":
                events.yield(.bookmark(resourceVersion: object.lookup("metadata.resourceVersion")?.stringValue ?? ""))
            case "ERROR":
                let status = APIStatus(objectValue) ?? APIStatus(code: 500, reason: "InternalError", message: "watch ERROR event without a Status")
                fail(KubernetesError.api(method: "GET", path: path, status: status))
                return false
            default:
                throw KubernetesError.invalidResponse(method: "GET", path: path, message: "unknown watch event type \(kind)")
            }
            return true
        } catch let error as JSONError {
            fail(KubernetesError.invalidResponse(method: "GET", path: path, message: "watch event is not JSON: \(error)"))
        } catch {
            fail(error)
        }
        return false
    }

    /// Ends the stream with an error and closes the connection.
    private func fail(_ error: Error) {
        let transfer = state.withLock { state -> Transfer? in
            defer { state.finished = true }
            return state.finished ? nil : state.transfer
        }
        events.finish(throwing: error)
        // From the I/O thread this only queues the cancellation; the loop completes it next turn.
        if let transfer { transport.cancel(transfer) }
    }

    func finished(_ result: Result<HTTPResponse, TransferFailure>) {
        let wasFinished = state.withLock { state -> Bool in
            defer { state.finished = true }
            return state.finished
        }
        let stillOpening = state.withLock { $0.opening != nil }
        switch result {
        case .success(let response) where !(200..<300).contains(response.status):
            let error = KubernetesError.api(method: "GET", path: path, status: KubernetesClient.status(of: response))
            if stillOpening { resumeOpening(.failure(error)) } else if !wasFinished { events.finish(throwing: error) }
        case .success:
            if !line.isEmpty { _ = deliverLine() }
            if stillOpening { resumeOpening(.success(())) }
            if !wasFinished { events.finish() }
        case .failure(let failure):
            let error = KubernetesClient.error(failure, method: "GET", path: path, timeout: timeout)
            if stillOpening { resumeOpening(.failure(error)) }
            if !wasFinished {
                if case .cancelled = failure { events.finish() } else { events.finish(throwing: error) }
            }
        }
    }
}
