/// The watches the server holds for this session, mirrored on the client so a new connection
/// (another member after a failover) can re-arm them with SetWatches. Pure: the session
/// feeds it replies and notifications in wire order.
///
/// The rules follow the Java client: a watch is armed only by a successful read (an `exists`
/// of a missing node arms an "exist" watch, which fires on creation); a notification
/// consumes the watches it fires, since every ZooKeeper watch fires once.
struct WatchTable: Sendable, Equatable {
    /// What a read asked the server to watch; which table it lands in depends on the reply.
    enum Request: Sendable, Equatable {
        case data(String), exists(String), children(String)

        init?(_ request: ZooKeeperRequest) {
            switch request {
            case .getData(let path, true): self = .data(path)
            case .exists(let path, true): self = .exists(path)
            case .getChildren(let path, true): self = .children(path)
            default: return nil
            }
        }
    }

    /// Armed by getData, or by exists on a node that exists: fire on change or deletion.
    private(set) var data: Set<String> = []
    /// Armed by exists on a missing node: fires on creation.
    private(set) var exist: Set<String> = []
    /// Armed by getChildren: fires when a child is added or removed, or the node is deleted.
    private(set) var child: Set<String> = []

    var isEmpty: Bool { data.isEmpty && exist.isEmpty && child.isEmpty }

    /// Records the watch a read armed, given the reply's error code.
    mutating func armed(by request: Request, replyError: Int32) {
        switch request {
        case .data(let path) where replyError == 0: data.insert(path)
        case .exists(let path) where replyError == 0: data.insert(path)
        case .exists(let path) where replyError == ZooKeeperError.noNode.code: exist.insert(path)
        case .children(let path) where replyError == 0: child.insert(path)
        default: break
        }
    }

    /// Removes the watches a notification fired.
    mutating func fired(_ event: WatchEvent) {
        switch event.kind {
        case .nodeCreated, .nodeDataChanged:
            data.remove(event.path); exist.remove(event.path)
        case .nodeChildrenChanged:
            child.remove(event.path)
        case .nodeDeleted:
            data.remove(event.path); exist.remove(event.path); child.remove(event.path)
        case .dataWatchRemoved:
            data.remove(event.path); exist.remove(event.path)
        case .childWatchRemoved:
            child.remove(event.path)
        case .none, .persistentWatchRemoved, .other:
            break
        }
    }

    mutating func removeAll() { self = WatchTable() }

    /// SetWatches requests re-arming every watch, relative to the last zxid this session saw,
    /// so the server also fires the watches whose nodes changed while it was disconnected.
    /// Split so that no request carries much more than `batchBytes` of paths: one frame must
    /// stay under the server's jute.maxbuffer (1 MiB by default).
    func setWatchesRequests(relativeZxid: Int64, batchBytes: Int = 128 * 1024) -> [ZooKeeperRequest] {
        var requests: [ZooKeeperRequest] = []
        var batch: (data: [String], exist: [String], child: [String]) = ([], [], [])
        var size = 0
        func flush() {
            if size == 0 { return }
            requests.append(.setWatches(relativeZxid: relativeZxid, data: batch.data, exist: batch.exist, child: batch.child))
            batch = ([], [], [])
            size = 0
        }
        // Sorted so the frames are the same for the same table (tests, and easier debugging).
        for path in data.sorted() { batch.data.append(path); size += path.utf8.count + 4; if size >= batchBytes { flush() } }
        for path in exist.sorted() { batch.exist.append(path); size += path.utf8.count + 4; if size >= batchBytes { flush() } }
        for path in child.sorted() { batch.child.append(path); size += path.utf8.count + 4; if size >= batchBytes { flush() } }
        flush()
        return requests
    }
}
