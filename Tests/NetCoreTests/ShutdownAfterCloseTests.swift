#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import NetCore
import Testing

/// A listening socket on 127.0.0.1 with an ephemeral port; the kernel completes connects
/// into its backlog, so nothing needs to accept.
private final class Listener {
    let fd: Int32
    let port: Int

    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socketFD, 64) == 0 else { Glibc.close(socketFD); throw NetError.io("cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(fd) }
}

/// Sends one byte from `from` and reads it on `to`, both bounded; false if either side fails.
private func passesAByte(from: Int32, to: Int32) -> Bool {
    var byte: UInt8 = 0x5A
    guard send(from, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) == 1 else { return false }
    var p = pollfd(fd: to, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, 5_000) == 1 else { return false }
    var received: UInt8 = 0
    return recv(to, &received, 1, Int32(MSG_DONTWAIT)) == 1 && received == 0x5A
}

@Suite struct ShutdownAfterCloseTests {
    /// Another thread may still hold a closed connection (e.g. to wake a reader) while its
    /// descriptor number is handed to a new socket; shutting the old connection down must not
    /// touch the new socket.
    @Test func shutdownAfterCloseLeavesAReusedDescriptorAlone() throws {
        let listener = try Listener()
        var checked = 0
        // The lowest free number is reused at once unless another thread in this process
        // opens a descriptor in between; retry until the reuse happens.
        for _ in 0..<50 where checked == 0 {
            let old = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, deadline: .after(seconds: 5))
            let number = old.fd
            old.close()
            var pair: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
            defer { Glibc.close(pair[0]); Glibc.close(pair[1]) }
            let reused = pair[0] == number ? pair[0] : pair[1] == number ? pair[1] : -1
            guard reused >= 0 else { continue }
            let other = reused == pair[0] ? pair[1] : pair[0]
            old.shutdownWrite()
            old.shutdownBoth()
            #expect(passesAByte(from: reused, to: other), "the new socket can no longer send")
            #expect(passesAByte(from: other, to: reused), "the new socket can no longer receive")
            checked += 1
        }
        #expect(checked == 1, "the descriptor number was never reused; nothing was checked")
    }
}
