/// Request type numbers (ZooDefs.OpCode).
public enum OpCode: Int32, Sendable {
    case notification = 0
    case create = 1
    case delete = 2
    case exists = 3
    case getData = 4
    case setData = 5
    case getChildren = 8
    case sync = 9
    case ping = 11
    case reconfig = 16
    case auth = 100
    case setWatches = 101
    case closeSession = -11
}

/// Reserved xids the server uses for frames that answer no numbered request.
public enum SpecialXid {
    public static let watchEvent: Int32 = -1
    public static let ping: Int32 = -2
    public static let auth: Int32 = -4
    public static let setWatches: Int32 = -8
}

public struct Stat: Sendable, Equatable, Hashable, JuteEncodable, JuteDecodable {
    public var czxid: Int64
    public var mzxid: Int64
    public var ctime: Int64
    public var mtime: Int64
    public var version: Int32
    public var cversion: Int32
    public var aversion: Int32
    /// The owning session for an ephemeral node, 0 otherwise.
    public var ephemeralOwner: Int64
    public var dataLength: Int32
    public var numChildren: Int32
    public var pzxid: Int64

    public init(czxid: Int64 = 0, mzxid: Int64 = 0, ctime: Int64 = 0, mtime: Int64 = 0, version: Int32 = 0,
                cversion: Int32 = 0, aversion: Int32 = 0, ephemeralOwner: Int64 = 0, dataLength: Int32 = 0,
                numChildren: Int32 = 0, pzxid: Int64 = 0) {
        self.czxid = czxid; self.mzxid = mzxid; self.ctime = ctime; self.mtime = mtime
        self.version = version; self.cversion = cversion; self.aversion = aversion
        self.ephemeralOwner = ephemeralOwner; self.dataLength = dataLength
        self.numChildren = numChildren; self.pzxid = pzxid
    }

    public func encode(to w: inout JuteWriter) {
        w.writeLong(czxid); w.writeLong(mzxid); w.writeLong(ctime); w.writeLong(mtime)
        w.writeInt(version); w.writeInt(cversion); w.writeInt(aversion); w.writeLong(ephemeralOwner)
        w.writeInt(dataLength); w.writeInt(numChildren); w.writeLong(pzxid)
    }

    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        czxid = try r.readLong(); mzxid = try r.readLong(); ctime = try r.readLong(); mtime = try r.readLong()
        version = try r.readInt(); cversion = try r.readInt(); aversion = try r.readInt()
        ephemeralOwner = try r.readLong(); dataLength = try r.readInt(); numChildren = try r.readInt()
        pzxid = try r.readLong()
    }
}

public struct ACL: Sendable, Equatable, Hashable, JuteEncodable, JuteDecodable {
    public struct Permissions: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let read = Permissions(rawValue: 1)
        public static let write = Permissions(rawValue: 2)
        public static let create = Permissions(rawValue: 4)
        public static let delete = Permissions(rawValue: 8)
        public static let admin = Permissions(rawValue: 16)
        public static let all: Permissions = [.read, .write, .create, .delete, .admin]
    }

    public var permissions: Permissions
    public var scheme: String
    public var id: String

    public init(permissions: Permissions, scheme: String, id: String) {
        self.permissions = permissions; self.scheme = scheme; self.id = id
    }

    /// world:anyone with every permission: ZooKeeper's OPEN_ACL_UNSAFE, the usual default.
    public static let openUnsafe = [ACL(permissions: .all, scheme: "world", id: "anyone")]

    public func encode(to w: inout JuteWriter) {
        w.writeInt(permissions.rawValue); w.writeString(scheme); w.writeString(id)
    }

    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        permissions = Permissions(rawValue: try r.readInt())
        scheme = try r.readString() ?? ""
        id = try r.readString() ?? ""
    }
}

public enum CreateMode: Sendable, Equatable, CaseIterable {
    case persistent, ephemeral, persistentSequential, ephemeralSequential

    /// CreateRequest.flags: bit 0 ephemeral, bit 1 sequential.
    public var flags: Int32 {
        switch self {
        case .persistent: return 0
        case .ephemeral: return 1
        case .persistentSequential: return 2
        case .ephemeralSequential: return 3
        }
    }

    public init(ephemeral: Bool, sequential: Bool) {
        switch (ephemeral, sequential) {
        case (false, false): self = .persistent
        case (true, false): self = .ephemeral
        case (false, true): self = .persistentSequential
        case (true, true): self = .ephemeralSequential
        }
    }
}

public struct ConnectRequest: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public var protocolVersion: Int32 = 0
    public var lastZxidSeen: Int64
    public var timeoutMilliseconds: Int32
    public var sessionID: Int64
    public var password: [UInt8]
    public var readOnly: Bool

    public init(lastZxidSeen: Int64, timeoutMilliseconds: Int32, sessionID: Int64, password: [UInt8], readOnly: Bool) {
        self.lastZxidSeen = lastZxidSeen; self.timeoutMilliseconds = timeoutMilliseconds
        self.sessionID = sessionID; self.password = password; self.readOnly = readOnly
    }

    // The trailing readOnly flag is outside the jute class but every 3.4+ peer sends it.
    public func encode(to w: inout JuteWriter) {
        w.writeInt(protocolVersion); w.writeLong(lastZxidSeen); w.writeInt(timeoutMilliseconds)
        w.writeLong(sessionID); w.writeBuffer(password); w.writeBool(readOnly)
    }

    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        protocolVersion = try r.readInt(); lastZxidSeen = try r.readLong()
        timeoutMilliseconds = try r.readInt(); sessionID = try r.readLong()
        password = try r.readBuffer() ?? []
        readOnly = r.remaining > 0 ? try r.readBool() : false
    }
}

public struct ConnectResponse: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public var protocolVersion: Int32
    /// The negotiated session timeout; 0 means the server refused the session (expired).
    public var timeoutMilliseconds: Int32
    public var sessionID: Int64
    public var password: [UInt8]
    public var readOnly: Bool

    public init(protocolVersion: Int32 = 0, timeoutMilliseconds: Int32, sessionID: Int64, password: [UInt8], readOnly: Bool = false) {
        self.protocolVersion = protocolVersion; self.timeoutMilliseconds = timeoutMilliseconds
        self.sessionID = sessionID; self.password = password; self.readOnly = readOnly
    }

    public func encode(to w: inout JuteWriter) {
        w.writeInt(protocolVersion); w.writeInt(timeoutMilliseconds); w.writeLong(sessionID)
        w.writeBuffer(password); w.writeBool(readOnly)
    }

    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        protocolVersion = try r.readInt(); timeoutMilliseconds = try r.readInt()
        sessionID = try r.readLong(); password = try r.readBuffer() ?? []
        // Servers before 3.4 omit the flag.
        readOnly = r.remaining > 0 ? try r.readBool() : false
    }
}

public struct RequestHeader: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public var xid: Int32
    public var type: Int32
    public init(xid: Int32, type: Int32) { self.xid = xid; self.type = type }
    public func encode(to w: inout JuteWriter) { w.writeInt(xid); w.writeInt(type) }
    public init(from r: inout JuteReader) throws(ZooKeeperError) { xid = try r.readInt(); type = try r.readInt() }
}

public struct ReplyHeader: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public var xid: Int32
    public var zxid: Int64
    public var err: Int32
    public init(xid: Int32, zxid: Int64, err: Int32) { self.xid = xid; self.zxid = zxid; self.err = err }
    public func encode(to w: inout JuteWriter) { w.writeInt(xid); w.writeLong(zxid); w.writeInt(err) }
    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        xid = try r.readInt(); zxid = try r.readLong(); err = try r.readInt()
    }
}

/// A watch notification (xid -1).
public struct WatchEvent: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public enum Kind: Sendable, Equatable {
        case none, nodeCreated, nodeDeleted, nodeDataChanged, nodeChildrenChanged
        case dataWatchRemoved, childWatchRemoved, persistentWatchRemoved
        case other(Int32)

        public init(rawValue: Int32) {
            switch rawValue {
            case -1: self = .none
            case 1: self = .nodeCreated
            case 2: self = .nodeDeleted
            case 3: self = .nodeDataChanged
            case 4: self = .nodeChildrenChanged
            case 5: self = .dataWatchRemoved
            case 6: self = .childWatchRemoved
            case 7: self = .persistentWatchRemoved
            default: self = .other(rawValue)
            }
        }

        public var rawValue: Int32 {
            switch self {
            case .none: return -1
            case .nodeCreated: return 1
            case .nodeDeleted: return 2
            case .nodeDataChanged: return 3
            case .nodeChildrenChanged: return 4
            case .dataWatchRemoved: return 5
            case .childWatchRemoved: return 6
            case .persistentWatchRemoved: return 7
            case .other(let value): return value
            }
        }
    }

    public var kind: Kind
    /// KeeperState of the session (3 = SyncConnected).
    public var state: Int32
    public var path: String

    public init(kind: Kind, state: Int32, path: String) { self.kind = kind; self.state = state; self.path = path }

    public func encode(to w: inout JuteWriter) { w.writeInt(kind.rawValue); w.writeInt(state); w.writeString(path) }
    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        kind = Kind(rawValue: try r.readInt()); state = try r.readInt(); path = try r.readString() ?? ""
    }
}

/// Request bodies, one per operation. Each encodes exactly the jute record the server expects.
public enum ZooKeeperRequest: Sendable, Equatable {
    case create(path: String, data: [UInt8], acl: [ACL], mode: CreateMode)
    case delete(path: String, version: Int32)
    case exists(path: String, watch: Bool)
    case getData(path: String, watch: Bool)
    case setData(path: String, data: [UInt8], version: Int32)
    case getChildren(path: String, watch: Bool)
    case sync(path: String)
    /// Incremental reconfig: comma-separated server specs to add and ids to remove.
    case reconfig(joining: String?, leaving: String?, fromConfig: Int64)
    case closeSession
    case ping
    case auth(scheme: String, credentials: [UInt8])
    /// Re-arms watches on a new connection; the server fires those whose node changed after
    /// `relativeZxid` at once.
    case setWatches(relativeZxid: Int64, data: [String], exist: [String], child: [String])

    public var opCode: OpCode {
        switch self {
        case .create: return .create
        case .delete: return .delete
        case .exists: return .exists
        case .getData: return .getData
        case .setData: return .setData
        case .getChildren: return .getChildren
        case .sync: return .sync
        case .reconfig: return .reconfig
        case .closeSession: return .closeSession
        case .ping: return .ping
        case .auth: return .auth
        case .setWatches: return .setWatches
        }
    }

    /// A short name for error messages.
    public var name: String {
        switch self {
        case .create(let p, _, _, _): return "create \(p)"
        case .delete(let p, _): return "delete \(p)"
        case .exists(let p, _): return "exists \(p)"
        case .getData(let p, _): return "get \(p)"
        case .setData(let p, _, _): return "set \(p)"
        case .getChildren(let p, _): return "ls \(p)"
        case .sync(let p): return "sync \(p)"
        case .reconfig: return "reconfig"
        case .closeSession: return "close session"
        case .ping: return "ping"
        case .auth(let scheme, _): return "add auth \(scheme)"
        case .setWatches: return "set watches"
        }
    }

    public func encodeBody(to w: inout JuteWriter) {
        switch self {
        case .create(let path, let data, let acl, let mode):
            w.writeString(path); w.writeBuffer(data)
            w.writeInt(Int32(acl.count)); for entry in acl { w.write(entry) }
            w.writeInt(mode.flags)
        case .delete(let path, let version):
            w.writeString(path); w.writeInt(version)
        case .exists(let path, let watch), .getData(let path, let watch), .getChildren(let path, let watch):
            w.writeString(path); w.writeBool(watch)
        case .setData(let path, let data, let version):
            w.writeString(path); w.writeBuffer(data); w.writeInt(version)
        case .sync(let path):
            w.writeString(path)
        case .reconfig(let joining, let leaving, let fromConfig):
            // newMembers stays null: that field is for the non-incremental form.
            w.writeString(joining); w.writeString(leaving); w.writeString(nil); w.writeLong(fromConfig)
        case .closeSession, .ping:
            break
        case .auth(let scheme, let credentials):
            w.writeInt(0); w.writeString(scheme); w.writeBuffer(credentials)
        case .setWatches(let relativeZxid, let data, let exist, let child):
            w.writeLong(relativeZxid); w.writeStringVector(data); w.writeStringVector(exist); w.writeStringVector(child)
        }
    }

    /// The whole frame: 4-byte length, RequestHeader, body.
    public func frame(xid: Int32) -> [UInt8] {
        var body = JuteWriter()
        body.write(RequestHeader(xid: xid, type: opCode.rawValue))
        encodeBody(to: &body)
        return Frame.encode(body.bytes)
    }
}

/// Reply bodies.
public struct GetDataResponse: Sendable, Equatable, JuteEncodable, JuteDecodable {
    public var data: [UInt8]
    public var stat: Stat
    public init(data: [UInt8], stat: Stat) { self.data = data; self.stat = stat }
    public func encode(to w: inout JuteWriter) { w.writeBuffer(data); w.write(stat) }
    public init(from r: inout JuteReader) throws(ZooKeeperError) {
        data = try r.readBuffer() ?? []; stat = try r.read(Stat.self)
    }
}

public enum Frame {
    /// Prefixes `payload` with its big-endian length.
    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        var w = JuteWriter()
        w.writeInt(Int32(payload.count))
        return w.bytes + payload
    }
}

/// Splits a byte stream into length-prefixed frames. Pure: feed bytes, take frames.
public struct FrameDecoder: Sendable {
    /// What the stream holds next.
    public enum Decoded: Sendable, Equatable {
        case frame([UInt8])
        /// A frame longer than `maxFrameLength`, with the xid it starts with. Its bytes are
        /// discarded as they arrive, so the stream stays in step and memory stays bounded.
        case oversized(xid: Int32, length: Int)
    }

    public let maxFrameLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of an oversized frame still to be discarded.
    private var discarding = 0

    public init(maxFrameLength: Int) { self.maxFrameLength = maxFrameLength }

    /// Bytes held that do not yet form a whole frame.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func append(_ bytes: [UInt8]) {
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        if discarding > 0 {
            let dropped = min(discarding, bytes.count)
            discarding -= dropped
            buffer += bytes[dropped...]
        } else {
            buffer += bytes
        }
    }

    /// The next whole frame's payload, nil if more bytes are needed. A negative or oversized
    /// length is a protocol violation: for a handshake, where nothing else may follow.
    public mutating func nextFrame() throws(ZooKeeperError) -> [UInt8]? {
        if buffer.count - start >= 4 {
            var r = JuteReader(Array(buffer[start..<(start + 4)]))
            let length = Int(try r.readInt())
            if length > maxFrameLength {
                throw .protocolViolation("frame length \(length) exceeds the limit of \(maxFrameLength) bytes")
            }
        }
        guard case .frame(let payload)? = try next() else { return nil }
        return payload
    }

    /// The next frame, or the xid of one too long to take; nil if more bytes are needed. A
    /// negative length is a protocol violation: the stream cannot be resynchronised after it.
    public mutating func next() throws(ZooKeeperError) -> Decoded? {
        guard buffer.count - start >= 4 else { return nil }
        var r = JuteReader(Array(buffer[start..<(start + 4)]))
        let length = Int(try r.readInt())
        guard length >= 0 else { throw .protocolViolation("negative frame length \(length)") }
        if length > maxFrameLength {
            // The reply header's xid says whose it is; the rest is thrown away unread.
            guard buffer.count - start >= 8 else { return nil }
            var x = JuteReader(Array(buffer[(start + 4)..<(start + 8)]))
            let xid = try x.readInt()
            let held = buffer.count - start - 4
            if held >= length {
                start += 4 + length
            } else {
                discarding = length - held
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            return .oversized(xid: xid, length: length)
        }
        guard buffer.count - start >= 4 + length else { return nil }
        let payload = Array(buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        if start > 65536 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return .frame(payload)
    }
}

/// Checks a znode path the way the server will, so obviously bad paths fail before sending.
public func validatePath(_ path: String, sequential: Bool = false) throws(ZooKeeperError) {
    guard path.hasPrefix("/") else { throw .invalidPath("'\(path)' must start with '/'") }
    if path == "/" { return }
    if path.utf8.contains(0) { throw .invalidPath("'\(path)' contains a NUL character") }
    var components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    // A sequential create may end in '/': the server appends the counter.
    if sequential, components.last == "" { components = components.dropLast() }
    for component in components {
        if component.isEmpty { throw .invalidPath("'\(path)' has an empty component") }
        if component == "." || component == ".." { throw .invalidPath("'\(path)' has a relative component") }
    }
}
