import NetCore

// The CQL handshake lives here, next to the four-letter words, because the probe may link
// only NetCore and ZKAdmin: it is the one other "is this member serving?" wire check.

/// Why a CQL OPTIONS exchange did not end in SUPPORTED.
public enum CQLError: Error, Equatable, Sendable, CustomStringConvertible {
    case network(NetError)
    /// The reply's version byte is not 0x84 (a version 4 response).
    case unexpectedVersion(UInt8)
    /// The server answered with an ERROR frame.
    case server(code: UInt32, message: String)
    case unexpectedOpcode(UInt8)
    case malformed(String)
    case bodyTooLarge(length: Int, limit: Int)

    public var description: String {
        switch self {
        case .network(let error): return error.description
        case .unexpectedVersion(let byte):
            if byte & 0x80 == 0 {
                return "reply is not a response frame (version byte 0x\(hex(byte)))"
            }
            return "server answered protocol version \(byte & 0x7f), expected 4 (version byte 0x\(hex(byte)))"
        case .server(let code, let message):
            return "server answered ERROR 0x\(String(code, radix: 16, uppercase: true)): \(message)"
        case .unexpectedOpcode(let opcode): return "unexpected opcode 0x\(hex(opcode)), expected SUPPORTED (0x06)"
        case .malformed(let reason): return "malformed reply: \(reason)"
        case .bodyTooLarge(let length, let limit): return "reply body of \(length) bytes exceeds the \(limit)-byte limit"
        }
    }
}

private func hex(_ byte: UInt8) -> String {
    let text = String(byte, radix: 16, uppercase: true)
    return text.count == 1 ? "0" + text : text
}

/// The decoded SUPPORTED reply: option name to values (`CQL_VERSION`, `COMPRESSION`,
/// `PROTOCOL_VERSIONS`, ...), in the order the server sent them.
public struct CQLSupported: Sendable, Equatable {
    public var options: [(key: String, values: [String])]

    public init(options: [(key: String, values: [String])]) { self.options = options }

    public subscript(key: String) -> [String]? { options.first { $0.key == key }?.values }

    public static func == (a: CQLSupported, b: CQLSupported) -> Bool {
        a.options.map(\.key) == b.options.map(\.key) && a.options.map(\.values) == b.options.map(\.values)
    }
}

/// CQL native protocol v4 frames, just enough for an OPTIONS/SUPPORTED handshake.
///
/// Frame header (9 bytes): version (0x04 request, 0x84 response), flags, stream (2 bytes),
/// opcode, body length (4 bytes, big endian).
public enum CQLHandshake {
    public static let opcodeError: UInt8 = 0x00
    public static let opcodeOptions: UInt8 = 0x05
    public static let opcodeSupported: UInt8 = 0x06
    /// SUPPORTED is a few hundred bytes; anything near this is not a real reply.
    public static let bodyLimit = 64 * 1024

    /// OPTIONS on stream 0 with an empty body: needs no STARTUP and no authentication.
    public static let optionsRequest: [UInt8] = [0x04, 0x00, 0x00, 0x00, opcodeOptions, 0x00, 0x00, 0x00, 0x00]

    public struct Header: Sendable, Equatable {
        public var version: UInt8
        public var flags: UInt8
        public var stream: Int16
        public var opcode: UInt8
        public var length: Int
    }

    /// Decodes and checks a response header; `length` is validated against `bodyLimit`.
    public static func parseHeader(_ bytes: [UInt8]) throws(CQLError) -> Header {
        guard bytes.count == 9 else { throw .malformed("header has \(bytes.count) bytes, expected 9") }
        guard bytes[0] == 0x84 else { throw .unexpectedVersion(bytes[0]) }
        let stream = Int16(bitPattern: UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        guard stream == 0 else { throw .malformed("reply on stream \(stream), request was on stream 0") }
        let raw = UInt32(bytes[5]) << 24 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 8 | UInt32(bytes[8])
        guard raw & 0x8000_0000 == 0 else { throw .malformed("negative body length") }
        let length = Int(raw)
        guard length <= bodyLimit else { throw .bodyTooLarge(length: length, limit: bodyLimit) }
        return Header(version: bytes[0], flags: bytes[1], stream: stream, opcode: bytes[4], length: length)
    }

    /// Interprets a complete response (header already checked). SUPPORTED decodes; ERROR and
    /// anything else become errors.
    public static func interpret(header: Header, body: [UInt8]) throws(CQLError) -> CQLSupported {
        var reader = ByteReader(body)
        // We negotiated no compression, so a compressed body is a broken or foreign peer.
        if header.flags & 0x01 != 0 { throw .malformed("compressed body, but no compression was negotiated") }
        if header.flags & 0x02 != 0 { _ = try reader.bytes(16) }  // tracing session id
        if header.flags & 0x08 != 0 { _ = try reader.stringList() }  // warnings
        if header.flags & 0x04 != 0 {  // custom payload: [bytes map]
            let count = try reader.short()
            for _ in 0..<count {
                _ = try reader.string()
                let length = try reader.int()
                if length > 0 { _ = try reader.bytes(Int(length)) }
            }
        }
        switch header.opcode {
        case opcodeSupported:
            let count = try reader.short()
            var options: [(key: String, values: [String])] = []
            for _ in 0..<count {
                let key = try reader.string()
                options.append((key, try reader.stringList()))
            }
            guard reader.isAtEnd else { throw .malformed("\(reader.remaining) bytes after the string multimap") }
            return CQLSupported(options: options)
        case opcodeError:
            let code = UInt32(bitPattern: try reader.int())
            let message = try reader.string()
            throw .server(code: code, message: message)
        default:
            throw .unexpectedOpcode(header.opcode)
        }
    }

    /// Connects, sends OPTIONS, reads one response, all within `deadline`.
    public static func options(host: String, port: Int, deadline: Deadline) throws(CQLError) -> CQLSupported {
        let header: Header
        let body: [UInt8]
        do {
            let connection = try TCPConnection.connect(host: host, port: port, deadline: deadline)
            defer { connection.close() }
            try connection.writeAll(optionsRequest, deadline: deadline)
            let headerBytes: [UInt8]
            do {
                headerBytes = try connection.readExactly(9, deadline: deadline)
            } catch .closed(let received, _) {
                throw CQLError.malformed("connection closed after \(received) of 9 header bytes")
            }
            header = try parseHeader(headerBytes)
            do {
                body = try connection.readExactly(header.length, deadline: deadline)
            } catch .closed(let received, let expected) {
                throw CQLError.malformed("connection closed after \(received) of \(expected) body bytes")
            }
        } catch let error as CQLError {
            throw error
        } catch let error as NetError {
            throw .network(error)
        } catch {
            throw .malformed("\(error)")
        }
        return try interpret(header: header, body: body)
    }
}

/// Big-endian reader over a frame body; running past the end is `.malformed`.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func bytes(_ count: Int) throws(CQLError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw .malformed("needs \(count) more bytes at offset \(offset), body has \(remaining)")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func short() throws(CQLError) -> Int {
        let b = try bytes(2)
        return Int(b[b.startIndex]) << 8 | Int(b[b.startIndex + 1])
    }

    mutating func int() throws(CQLError) -> Int32 {
        let b = try bytes(4)
        let raw = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Int32(bitPattern: raw)
    }

    mutating func string() throws(CQLError) -> String {
        let length = try short()
        return String(decoding: try bytes(length), as: UTF8.self)
    }

    mutating func stringList() throws(CQLError) -> [String] {
        let count = try short()
        var result: [String] = []
        for _ in 0..<count { result.append(try string()) }
        return result
    }
}
