/// Jute, ZooKeeper's serialization: big-endian fixed-width integers, one-byte booleans, and
/// length-prefixed buffers, strings and vectors where length -1 means null.
public struct JuteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func writeInt(_ value: Int32) {
        let v = UInt32(bitPattern: value)
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func writeLong(_ value: Int64) {
        let v = UInt64(bitPattern: value)
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)))
        }
    }

    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// A `buffer`; nil is encoded as length -1.
    public mutating func writeBuffer(_ value: [UInt8]?) {
        guard let value else { writeInt(-1); return }
        writeInt(Int32(value.count))
        bytes += value
    }

    /// A `ustring` (UTF-8); nil is encoded as length -1.
    public mutating func writeString(_ value: String?) {
        guard let value else { writeInt(-1); return }
        writeBuffer(Array(value.utf8))
    }

    public mutating func writeStringVector(_ values: [String]) {
        writeInt(Int32(values.count))
        for value in values { writeString(value) }
    }

    public mutating func write<R: JuteEncodable>(_ record: R) { record.encode(to: &self) }
}

/// Reads jute values from a byte array. Every read is bounds-checked: running off the end or
/// meeting an impossible length is a protocol violation, never a trap.
public struct JuteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int, _ what: String) throws(ZooKeeperError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw .protocolViolation("truncated \(what): need \(count) bytes at offset \(offset), have \(remaining)")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func readInt() throws(ZooKeeperError) -> Int32 {
        let s = try take(4, "int")
        var v: UInt32 = 0
        for b in s { v = v << 8 | UInt32(b) }
        return Int32(bitPattern: v)
    }

    public mutating func readLong() throws(ZooKeeperError) -> Int64 {
        let s = try take(8, "long")
        var v: UInt64 = 0
        for b in s { v = v << 8 | UInt64(b) }
        return Int64(bitPattern: v)
    }

    public mutating func readBool() throws(ZooKeeperError) -> Bool {
        let s = try take(1, "boolean")
        switch s.first! {
        case 0: return false
        case 1: return true
        case let other: throw .protocolViolation("boolean byte \(other) is neither 0 nor 1")
        }
    }

    /// A `buffer`; length -1 (null) reads as nil.
    public mutating func readBuffer() throws(ZooKeeperError) -> [UInt8]? {
        let length = try readInt()
        if length == -1 { return nil }
        guard length >= 0 else { throw .protocolViolation("negative buffer length \(length)") }
        return Array(try take(Int(length), "buffer of \(length) bytes"))
    }

    public mutating func readString() throws(ZooKeeperError) -> String? {
        guard let raw = try readBuffer() else { return nil }
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .protocolViolation("string is not valid UTF-8")
        }
        return text
    }

    public mutating func readStringVector() throws(ZooKeeperError) -> [String]? {
        let count = try readInt()
        if count == -1 { return nil }
        // Each element needs at least its 4-byte length: a count that cannot fit is garbage,
        // and checking first keeps a hostile count from reserving huge memory.
        guard count >= 0, Int(count) <= remaining / 4 else {
            throw .protocolViolation("vector count \(count) does not fit in \(remaining) bytes")
        }
        var result: [String] = []
        result.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let s = try readString() else { throw .protocolViolation("null string inside a vector") }
            result.append(s)
        }
        return result
    }

    public mutating func read<R: JuteDecodable>(_ type: R.Type) throws(ZooKeeperError) -> R {
        try R(from: &self)
    }
}

public protocol JuteEncodable: Sendable {
    func encode(to writer: inout JuteWriter)
}

public protocol JuteDecodable: Sendable {
    init(from reader: inout JuteReader) throws(ZooKeeperError)
}

extension JuteEncodable {
    public var juteBytes: [UInt8] {
        var w = JuteWriter()
        encode(to: &w)
        return w.bytes
    }
}
