import EnsembleCore

/// What a watcher reports to a store: level-based, so a consumer never needs to know why.
public enum WatcherEvent: Sendable, Equatable {
    /// A complete listing: replace the store's contents with these (the first list, and
    /// every re-list after a 410 Gone, which may drop objects deleted meanwhile).
    case listed([KubeObject])
    /// Added or modified.
    case applied(KubeObject)
    case deleted(KubeObject)
}

/// Capped exponential backoff: `initial`, doubling, at most `maximum`; reset on success.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public private(set) var next: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
        next = initial
    }

    /// The delay to wait now; the following one doubles.
    public mutating func delay() -> Duration {
        let current = next
        next = min(maximum, next * 2)
        return current
    }

    public mutating func reset() { next = initial }
}

/// The watcher as a pure state machine (no I/O, no clock): it says what to do next, and is
/// told what happened. States: empty -> listing (pages) -> watching{rv}; a 410 Gone from
/// the watch or an expired continue token goes back to empty (a fresh list); other failures
/// wait a capped, growing backoff and retry the same step; a watch the server ended
/// normally resumes from the last resourceVersion seen (bookmarks advance it).
public struct WatcherStateMachine: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// List a page (nil token: the first page).
        case list(continueToken: String?)
        /// Watch from this resourceVersion.
        case watch(resourceVersion: String)
        /// Sleep, then ask for the next action.
        case wait(Duration)
    }

    enum Phase: Sendable, Equatable {
        case empty
        case listing(continueToken: String, items: [KubeObject], resourceVersion: String)
        case watching(resourceVersion: String)
    }

    private(set) var phase: Phase = .empty
    private var pendingWait: Duration?
    /// Whether the current watch delivered anything: one that ends empty-handed backs off,
    /// so a server that closes watches at once cannot make us spin.
    private var watchDelivered = false
    public private(set) var backoff: Backoff

    public init(backoff: Backoff = Backoff()) { self.backoff = backoff }

    /// The resourceVersion a watch would resume from, when watching.
    public var resourceVersion: String? {
        if case .watching(let version) = phase { return version }
        return nil
    }

    public mutating func nextAction() -> Action {
        if let wait = pendingWait {
            pendingWait = nil
            return .wait(wait)
        }
        switch phase {
        case .empty: return .list(continueToken: nil)
        case .listing(let token, _, _): return .list(continueToken: token)
        case .watching(let version):
            watchDelivered = false
            return .watch(resourceVersion: version)
        }
    }

    /// A list page arrived. Returns `.listed` with every item once the last page is in.
    public mutating func listed(_ page: ObjectList) -> WatcherEvent? {
        var items = page.items
        var version = page.resourceVersion
        if case .listing(_, let earlier, let firstVersion) = phase {
            items = earlier + page.items
            version = firstVersion
        }
        if let token = page.continueToken {
            phase = .listing(continueToken: token, items: items, resourceVersion: version)
            return nil
        }
        phase = .watching(resourceVersion: version)
        backoff.reset()
        return .listed(items)
    }

    /// A watch event arrived; bookmarks only advance the resourceVersion.
    public mutating func received(_ event: WatchEvent) -> WatcherEvent? {
        if let version = event.resourceVersion, !version.isEmpty { phase = .watching(resourceVersion: version) }
        backoff.reset()
        watchDelivered = true
        switch event {
        case .added(let object), .modified(let object): return .applied(object)
        case .deleted(let object): return .deleted(object)
        case .bookmark: return nil
        }
    }

    /// The server ended the watch normally (its timeout): watch again from where we are, at
    /// once if it delivered anything, after a backoff if it did not.
    public mutating func watchEnded() {
        if !watchDelivered { pendingWait = backoff.delay() }
    }

    /// A list or watch failed. 410 Gone: list afresh at once. Anything else: back off, retry.
    public mutating func failed(_ error: Error) {
        if let error = error as? KubernetesError, error.isGone {
            phase = .empty
            return
        }
        pendingWait = backoff.delay()
    }
}

/// Options for `ResourceWatcher`.
public struct WatcherOptions: Sendable {
    public var labelSelector: LabelSelector?
    public var fieldSelector: String?
    /// Page size of the (re-)lists.
    public var pageSize: Int
    public var timeoutSeconds: Int
    public var backoff: Backoff
    /// Told about every failure the watcher recovers from (for logs); never about secrets.
    public var onError: (@Sendable (Error) -> Void)?

    public init(labelSelector: LabelSelector? = nil, fieldSelector: String? = nil, pageSize: Int = 500,
                timeoutSeconds: Int = 290, backoff: Backoff = Backoff(), onError: (@Sendable (Error) -> Void)? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.pageSize = pageSize
        self.timeoutSeconds = timeoutSeconds
        self.backoff = backoff
        self.onError = onError
    }
}

/// Lists, then watches, forever: the I/O shell around `WatcherStateMachine`. Iterating it
/// does the requests on the iterating task (no background task); it ends only when that
/// task is cancelled. Failures are retried (reported to `options.onError`), never thrown.
public struct ResourceWatcher: AsyncSequence, Sendable {
    public typealias Element = WatcherEvent

    let client: KubernetesClient
    let type: ResourceType
    let namespace: String?
    let options: WatcherOptions

    public func makeAsyncIterator() -> Iterator {
        Iterator(watcher: self, machine: WatcherStateMachine(backoff: options.backoff))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let watcher: ResourceWatcher
        var machine: WatcherStateMachine
        var stream: AsyncThrowingStream<WatchEvent, Error>.AsyncIterator?

        public mutating func next() async -> WatcherEvent? {
            let options = watcher.options
            while !Task.isCancelled {
                if stream != nil {
                    do {
                        if let event = try await stream!.next() {
                            if let output = machine.received(event) { return output }
                            continue
                        }
                        stream = nil
                        machine.watchEnded()
                    } catch {
                        stream = nil
                        if Task.isCancelled { return nil }
                        options.onError?(error)
                        machine.failed(error)
                    }
                    continue
                }
                switch machine.nextAction() {
                case .wait(let delay):
                    do { try await Task.sleep(for: delay) } catch { return nil }
                case .list(let token):
                    do {
                        let page = try await watcher.client.list(
                            watcher.type, namespace: watcher.namespace,
                            options: ListOptions(labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
                                                 limit: options.pageSize, continueToken: token))
                        if let output = machine.listed(page) { return output }
                    } catch {
                        if Task.isCancelled { return nil }
                        options.onError?(error)
                        machine.failed(error)
                    }
                case .watch(let version):
                    do {
                        let events = try await watcher.client.watch(
                            watcher.type, namespace: watcher.namespace,
                            options: WatchOptions(labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
                                                  resourceVersion: version, allowBookmarks: true, timeoutSeconds: options.timeoutSeconds))
                        stream = events.makeAsyncIterator()
                    } catch {
                        if Task.isCancelled { return nil }
                        options.onError?(error)
                        machine.failed(error)
                    }
                }
            }
            return nil
        }
    }
}

extension KubernetesClient {
    /// A list-then-watch sequence of `WatcherEvent`s for one resource type.
    public func watcher(_ type: ResourceType, namespace: String? = nil, options: WatcherOptions = WatcherOptions()) -> ResourceWatcher {
        ResourceWatcher(client: self, type: type, namespace: namespace, options: options)
    }
}
