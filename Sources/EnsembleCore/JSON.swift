/// A strict JSON (RFC 8259) parser into `Value`, for API server replies and kubeconfig-adjacent
/// data. Pure: bytes in, a `Value` or a `JSONError` with the byte offset out.
///
/// Strict where being lenient would hide a broken peer: no trailing commas, no comments, no
/// leading zeros, no lone surrogates, no invalid UTF-8, no control characters in strings, no
/// duplicate keys (two values for one field would make "which one wins" a parser detail),
/// nothing after the value but whitespace. Integers that fit `Int` become `.int`; other
/// numbers (fractions, exponents, integers beyond 64 bits) become `.double`, and a number
/// too large for a `Double` is an error rather than infinity.
///
/// Limits bound what a hostile or broken server can make us do: `JSONLimits.maxBytes` before
/// any parsing, `JSONLimits.maxDepth` on nesting (the parser recurses once per level, so the
/// depth bound is also the stack bound). The scheme matches the YAML loader's: named limits
/// with defaults as public constants, and an error naming the limit and where it was hit.
public struct JSONLimits: Sendable, Equatable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of arrays and objects accepted (the top-level value is depth 1).
    public var maxDepth: Int

    public init(maxBytes: Int = JSONLimits.defaultMaxBytes, maxDepth: Int = JSONLimits.defaultMaxDepth) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// 64 MiB: a page of 500 large objects is a few MiB; nothing we read comes near this.
    public static let defaultMaxBytes = 64 << 20
    /// Kubernetes objects nest about 20 levels; 512 leaves room and bounds the stack.
    public static let defaultMaxDepth = 512
    public static let `default` = JSONLimits()
}

public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset (0-based) where the problem was found.
    public var offset: Int
    /// 1-based line and column (column counted in bytes) of `offset`.
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(line):\(column): \(message) (byte offset \(offset))" }
}

public enum JSON {
    public static func parse(_ text: String, limits: JSONLimits = .default) throws(JSONError) -> Value {
        var text = text
        let result: Result<Value, JSONError> = text.withUTF8 { buffer in
            Result { () throws(JSONError) -> Value in try parse(UnsafeRawBufferPointer(buffer), limits: limits) }
        }
        return try result.get()
    }

    public static func parse(bytes: [UInt8], limits: JSONLimits = .default) throws(JSONError) -> Value {
        let result: Result<Value, JSONError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> Value in try parse(buffer, limits: limits) }
        }
        return try result.get()
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer, limits: JSONLimits = .default) throws(JSONError) -> Value {
        var parser = JSONParser(bytes: buffer.bindMemory(to: UInt8.self), limits: limits)
        if buffer.count > limits.maxBytes {
            throw parser.error(at: limits.maxBytes, "input is larger than the limit of \(limits.maxBytes) bytes")
        }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 1)
        parser.skipWhitespace()
        if parser.position < parser.bytes.count {
            throw parser.error("unexpected \(parser.describe(parser.bytes[parser.position])) after the JSON value")
        }
        return value
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func error(at offset: Int? = nil, _ message: String) -> JSONError {
        let offset = min(offset ?? position, bytes.count)
        var line = 1, lineStart = 0
        for index in 0..<offset where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        return JSONError(offset: offset, line: line, column: offset - lineStart + 1, message: message)
    }

    func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> Value {
        guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let byte: throw error("unexpected \(describe(byte)), expected a value")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        let start = position
        for index in 0..<count {
            guard position < bytes.count, bytes[position] == literal.utf8Start[index] else {
                throw error(at: start, "invalid literal, expected '\(literal)'")
            }
            position += 1
        }
    }

    mutating func enter(_ depth: Int) throws(JSONError) {
        if depth > limits.maxDepth {
            throw error("nesting deeper than the limit of \(limits.maxDepth) levels")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> Value {
        try enter(depth)
        position += 1
        var entries: [(key: String, value: Value)] = []
        // Small objects (nearly all of them) check duplicates by scanning; large ones by a set.
        var seen: Set<String>? = nil
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(Object(uniqueKeys: entries))
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[position] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describe(bytes[position])), expected a string key")
            }
            let keyOffset = position
            let key = try parseString()
            if entries.count < 16 {
                if entries.contains(where: { $0.key == key }) {
                    throw error(at: keyOffset, "duplicate key \(Emit.jsonString(key))")
                }
            } else {
                if seen == nil { seen = Set(entries.map(\.key)) }
                if !seen!.insert(key).inserted { throw error(at: keyOffset, "duplicate key \(Emit.jsonString(key))") }
            }
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input, expected ':'") }
            guard bytes[position] == UInt8(ascii: ":") else {
                throw error("unexpected \(describe(bytes[position])), expected ':' after a key")
            }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            entries.append((key, value))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input inside an object") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(Object(uniqueKeys: entries))
            case let byte: throw error("unexpected \(describe(byte)), expected ',' or '}'")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> Value {
        try enter(depth)
        position += 1
        var items: [Value] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input inside an array") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(items)
            case let byte: throw error("unexpected \(describe(byte)), expected ',' or ']'")
            }
        }
    }

    mutating func parseString() throws(JSONError) -> String {
        let start = position
        position += 1
        // Fast path: no escapes, so the bytes between the quotes are the string's UTF-8.
        var scan = position
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[position..<scan])
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw error(at: firstInvalidUTF8(from: position, to: scan), "invalid UTF-8 in string")
                }
                position = scan + 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error(at: scan, "control character \(describe(byte)) in string (must be escaped)") }
            scan += 1
        }
        if scan >= bytes.count { throw error(at: start, "unterminated string") }
        // Slow path: decode escapes into a byte buffer, then validate once.
        var utf8: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[position..<scan]))
        position = scan
        while true {
            guard position < bytes.count else { throw error(at: start, "unterminated string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw error(at: start, "invalid UTF-8 in string")
                }
                return text
            case UInt8(ascii: "\\"):
                let escapeOffset = position
                position += 1
                guard position < bytes.count else { throw error(at: start, "unterminated string") }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    let unit = try parseHex4(escapeOffset: escapeOffset)
                    var scalarValue = UInt32(unit)
                    if (0xD800...0xDBFF).contains(unit) {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                              bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error(at: escapeOffset, "high surrogate \\u\(hex(unit)) not followed by a low surrogate")
                        }
                        let lowOffset = position
                        position += 2
                        let low = try parseHex4(escapeOffset: lowOffset)
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw error(at: lowOffset, "high surrogate \\u\(hex(unit)) followed by \\u\(hex(low)), not a low surrogate")
                        }
                        scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw error(at: escapeOffset, "lone low surrogate \\u\(hex(unit))")
                    }
                    utf8.append(contentsOf: UTF8.encode(Unicode.Scalar(scalarValue)!)!)
                default:
                    throw error(at: escapeOffset, "invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
                }
            default:
                if byte < 0x20 { throw error("control character \(describe(byte)) in string (must be escaped)") }
                utf8.append(byte)
                position += 1
            }
        }
    }

    func hex(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    mutating func parseHex4(escapeOffset: Int) throws(JSONError) -> UInt16 {
        guard position + 4 <= bytes.count else { throw error(at: escapeOffset, "truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error(at: escapeOffset, "invalid \\u escape: \(describe(byte)) is not a hex digit")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// The offset of the first byte that breaks UTF-8 in bytes[from..<to], for the error.
    func firstInvalidUTF8(from: Int, to: Int) -> Int {
        var index = from
        while index < to {
            let lead = bytes[index]
            let length: Int
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return index
            }
            guard index + length <= to else { return index }
            let slice = UnsafeBufferPointer(rebasing: bytes[index..<(index + length)])
            if String(validating: slice, as: UTF8.self) == nil { return index }
            index += length
        }
        return from
    }

    mutating func parseNumber() throws(JSONError) -> Value {
        let start = position
        var isInteger = true
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else {
            throw error(at: start, "invalid number: expected a digit after '-'")
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) {
                throw error(at: start, "invalid number: leading zeros are not allowed")
            }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw error(at: start, "invalid number: expected a digit after '.'")
            }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw error(at: start, "invalid number: expected a digit in the exponent")
            }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if isInteger, let value = integer(slice) { return .int(value) }
        // The grammar was checked above, so the text is a valid Double literal.
        let text = String(decoding: slice, as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw error(at: start, "number \(text.prefix(40)) is out of range")
        }
        return .double(value)
    }

    /// The integer value, or nil when it does not fit `Int`.
    func integer(_ digits: UnsafeBufferPointer<UInt8>) -> Int? {
        var negative = false
        var index = 0
        if digits[0] == UInt8(ascii: "-") { negative = true; index = 1 }
        var value = 0
        while index < digits.count {
            let digit = Int(digits[index] - UInt8(ascii: "0"))
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
            index += 1
        }
        return value
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
