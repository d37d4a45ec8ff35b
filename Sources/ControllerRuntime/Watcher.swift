import EnsembleCore
import NetCore

/// Where a watcher stands, as a pure state machine (kube-rs's watcher): list, then watch from
/// the list's version; a dropped watch resumes from the last version seen; 410 Gone (the
/// version is too old) goes back to a fresh list; errors back off, bounded.
public struct WatchCursor: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        case list
        case watch(resourceVersion: String)
        /// Wait this long, then take `then`.
        case backoff(seconds: Double, then: NextAfterBackoff)
    }

    public enum NextAfterBackoff: Sendable, Equatable { case list, watch(String) }

    public private(set) var resourceVersion: String?
    public private(set) var consecutiveFailures = 0
    public let maxBackoff: Double

    public init(maxBackoff: Double = 30) { self.maxBackoff = maxBackoff }

    public var next: Step {
        resourceVersion.map { .watch(resourceVersion: $0) } ?? .list
    }

    public mutating func listed(resourceVersion: String) -> Step {
        self.resourceVersion = resourceVersion
        consecutiveFailures = 0
        return next
    }

    /// An event or bookmark carried this version.
    public mutating func saw(resourceVersion: String) {
        if !resourceVersion.isEmpty { self.resourceVersion = resourceVersion }
        consecutiveFailures = 0
    }

    /// The server closed the watch normally: resume where it stopped.
    public mutating func ended() -> Step { next }

    /// 410 Gone: the version is no longer served; relist.
    public mutating func gone() -> Step {
        resourceVersion = nil
        return .list
    }

    public mutating func failed() -> Step {
        consecutiveFailures += 1
        let delay = min(maxBackoff, 0.2 * Double(1 << min(consecutiveFailures - 1, 16)))
        return .backoff(seconds: delay, then: resourceVersion.map { .watch($0) } ?? .list)
    }
}

/// Lists and watches one resource into a `Store`, trimming each object on arrival, and
/// reports the Ensembles whose objects changed.
public struct Watcher<Object: Sendable>: Sendable {
    public var type: ResourceType
    public var namespace: String?
    public var labelSelector: String?
    public var pageSize = 500
    /// How long the server keeps one watch open before the watcher opens the next.
    public var watchTimeoutSeconds = 300
    public var trim: @Sendable (Value) -> Object?
    public var changed: @Sendable (Object, Object) -> Bool

    public init(type: ResourceType, namespace: String?, labelSelector: String?, trim: @escaping @Sendable (Value) -> Object?,
                changed: @escaping @Sendable (Object, Object) -> Bool) {
        self.type = type
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.trim = trim
        self.changed = changed
    }

    static func key(of value: Value) -> ObjectKey? {
        guard let meta = value["metadata"], let name = meta["name"]?.stringValue else { return nil }
        return ObjectKey(namespace: meta["namespace"]?.stringValue ?? "", name: name)
    }

    /// Runs until cancelled. `onChange` gets the owners touched by each list or event.
    public func run(api: any KubernetesAPI, store: Store<Object>, logger: Logger,
                    onChange: @escaping @Sendable (Set<ObjectKey>) async -> Void) async {
        var cursor = WatchCursor()
        var step = cursor.next
        while !Task.isCancelled {
            switch step {
            case .backoff(let seconds, let then):
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                step = then == .list ? .list : cursor.next
            case .list:
                do {
                    var objects: [ObjectKey: Object] = [:]
                    var token: String?
                    var version = ""
                    repeat {
                        let page = try await api.list(type, namespace: namespace, labelSelector: labelSelector, limit: pageSize, continueToken: token)
                        for item in page.items {
                            if let key = Self.key(of: item), let object = trim(item) { objects[key] = object }
                        }
                        token = page.continueToken
                        version = page.resourceVersion
                    } while token != nil && !Task.isCancelled
                    let touched = store.replaceAll(objects, changed: changed)
                    logger.debug("listed", ["resource": "\(type)", "objects": "\(objects.count)", "resourceVersion": version])
                    await onChange(touched)
                    step = cursor.listed(resourceVersion: version)
                } catch {
                    // An expired continue token is 410 too: start the list again.
                    step = error.isGone ? cursor.gone() : cursor.failed()
                    logger.warning("list failed", ["resource": "\(type)", "error": "\(error)"])
                }
            case .watch(let version):
                do {
                    let stream = try await api.watch(type, namespace: namespace, labelSelector: labelSelector,
                                                     resourceVersion: version, timeoutSeconds: watchTimeoutSeconds)
                    step = try await consume(stream, cursor: &cursor, store: store, onChange: onChange)
                } catch let error as APIError where error.isGone {
                    step = cursor.gone()
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("watch failed", ["resource": "\(type)", "error": "\(error)"])
                    step = cursor.failed()
                }
            }
        }
    }

    private func consume(_ stream: AsyncThrowingStream<WatchEvent, any Error>, cursor: inout WatchCursor, store: Store<Object>,
                         onChange: @escaping @Sendable (Set<ObjectKey>) async -> Void) async throws -> WatchCursor.Step {
        for try await event in stream {
            switch event {
            case .added(let value), .modified(let value):
                guard let key = Self.key(of: value) else { continue }
                cursor.saw(resourceVersion: value["metadata"]?["resourceVersion"]?.stringValue ?? "")
                let touched: Set<ObjectKey>
                if let object = trim(value) {
                    if let old = store.get(key), !changed(old, object) { continue }
                    touched = store.upsert(key, object)
                } else {
                    touched = store.remove(key)
                }
                await onChange(touched)
            case .deleted(let value):
                guard let key = Self.key(of: value) else { continue }
                cursor.saw(resourceVersion: value["metadata"]?["resourceVersion"]?.stringValue ?? "")
                await onChange(store.remove(key))
            case .bookmark(let version):
                cursor.saw(resourceVersion: version)
            case .error(let code, _) where code == 410:
                return cursor.gone()
            case .error(let code, let message):
                throw APIError.status(code: code, reason: "WatchError", message: message)
            }
        }
        return cursor.ended()
    }
}

extension Error {
    var isGone: Bool { (self as? APIError)?.isGone ?? false }
}
