#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One address a host name resolved to: what `socket(2)` and `connect(2)` need.
public struct ResolvedAddress: Sendable, Equatable {
    public var family: Int32
    public var socketType: Int32
    public var socketProtocol: Int32
    /// The raw `sockaddr` bytes.
    public var socketAddress: [UInt8]

    public init(family: Int32, socketType: Int32, socketProtocol: Int32, socketAddress: [UInt8]) {
        self.family = family
        self.socketType = socketType
        self.socketProtocol = socketProtocol
        self.socketAddress = socketAddress
    }
}

/// Name resolution bounded by a deadline.
///
/// `getaddrinfo` cannot be interrupted and ignores any deadline: a DNS server that drops
/// queries holds it for the resolver's own retries (tens of seconds). So each lookup of a
/// name runs on a detached thread and the caller waits for it only until its deadline. A
/// lookup that outlives its caller finishes (or stays stuck) in the background; at most
/// `maximumPendingLookups` may be unanswered at once, so a dead name service costs a bounded
/// number of threads, and further lookups fail at once saying why. Numeric addresses never
/// reach the name service and need no thread.
public final class NameResolver: @unchecked Sendable {
    /// A blocking lookup: `getaddrinfo` in production, a double in tests.
    public typealias Lookup = @Sendable (_ host: String, _ port: Int) -> Result<[ResolvedAddress], NetError>

    /// The process-wide resolver over the system's `getaddrinfo`.
    public static let system = NameResolver()

    public let maximumPendingLookups: Int
    private let lookup: Lookup
    private let lock = ConditionLock()
    /// Lookups started and not yet answered, including those whose callers gave up.
    private var pending = 0

    public init(maximumPendingLookups: Int = 8, lookup: @escaping Lookup = NameResolver.getaddrinfoLookup) {
        self.maximumPendingLookups = max(1, maximumPendingLookups)
        self.lookup = lookup
    }

    /// Lookups still running, whether or not anyone waits for them.
    public var pendingLookups: Int { lock.withLock { pending } }

    /// The addresses of `host`, or an error by `deadline` at the latest.
    public func resolve(host: String, port: Int, deadline: Deadline) throws(NetError) -> [ResolvedAddress] {
        if isNumericAddress(host) { return try Self.getaddrinfoLookup(host, port).get() }
        if deadline.hasPassed { throw .resolve(host: host, reason: "no time left to resolve it") }
        final class Answer: @unchecked Sendable { var result: Result<[ResolvedAddress], NetError>? }
        let answer = Answer()
        let started = lock.withLock { () -> Int? in
            guard pending < maximumPendingLookups else { return nil }
            pending += 1
            return pending
        }
        guard started != nil else {
            throw .resolve(host: host, reason: "\(maximumPendingLookups) earlier lookups are still unanswered "
                + "(at most \(maximumPendingLookups) at once): the name service is not answering")
        }
        let lookup = self.lookup
        let launched = startDetachedThread { [self] in
            let result = lookup(host, port)
            lock.withLock {
                answer.result = result
                pending -= 1
                lock.signal()
            }
        }
        if !launched {
            lock.withLock { pending -= 1 }
            throw .resolve(host: host, reason: "cannot start a resolver thread")
        }
        return try lock.withLock { () throws(NetError) -> [ResolvedAddress] in
            while true {
                if let result = answer.result { return try result.get() }
                if deadline.hasPassed {
                    throw .resolve(host: host, reason: "no answer from the name service before the deadline "
                        + "(the lookup goes on in the background; \(pending) unanswered, at most \(maximumPendingLookups))")
                }
                lock.wait(until: deadline)
            }
        }
    }

    /// `getaddrinfo` for a TCP connection to `host:port`; blocks as long as the name service does.
    public static let getaddrinfoLookup: Lookup = { host, port in
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        // A literal address must never reach NSS: the probe is a fully static binary, and
        // statically linked glibc can only load NSS modules of its own version.
        hints.ai_flags = AI_NUMERICSERV | (isNumericAddress(host) ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, list != nil else {
            return .failure(.resolve(host: host, reason: String(cString: gai_strerror(rc))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [ResolvedAddress] = []
        var cursor = list
        while let info = cursor {
            cursor = info.pointee.ai_next
            guard let address = info.pointee.ai_addr else { continue }
            let bytes = UnsafeRawBufferPointer(start: address, count: Int(info.pointee.ai_addrlen))
            addresses.append(ResolvedAddress(
                family: info.pointee.ai_family, socketType: info.pointee.ai_socktype,
                socketProtocol: info.pointee.ai_protocol, socketAddress: Array(bytes)))
        }
        if addresses.isEmpty { return .failure(.resolve(host: host, reason: "no address")) }
        return .success(addresses)
    }
}
