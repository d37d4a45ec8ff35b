import EnsembleCore
import Testing

/// The strict JSON parser: what it accepts, what it refuses and where it says the fault is.
@Suite struct JSONTests {
    @Test func parsesEveryKindOfValueKeepingKeyOrder() throws {
        let value = try JSON.parse(#" { "b": [1, -2, 3.5, -0.25e2, 1E3, true, false, null], "a": {"x": "y"}, "": "" } "#)
        #expect(value == ["b": [1, -2, .double(3.5), .double(-25), .double(1000), true, false, nil], "a": ["x": "y"], "": ""])
        #expect(value.objectValue?.keys == ["b", "a", ""])
        #expect(try JSON.parse("[]") == [])
        #expect(try JSON.parse("{}") == .object(Object()))
        #expect(try JSON.parse("\"plain\"") == "plain")
        #expect(try JSON.parse("-0") == 0)
    }

    @Test func roundTripsWhatEmitWrites() throws {
        let value: Value = ["name": "zk", "list": [1, "two", ["three": nil]], "text": "line\n\t\"quoted\" \\ é 日本 🎉\u{7}"]
        #expect(try JSON.parse(Emit.json(value)) == value)
        #expect(try JSON.parse(Emit.json(value, pretty: false)) == value)
    }

    @Test(arguments: [
        (#""\u00e9""#, "é"),
        (#""\u65E5\u672c""#, "日本"),
        (#""\ud83c\udf89""#, "🎉"),
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
        (#""a\u0000b""#, "a\u{0}b"),
        ("\"🎉 raw UTF-8 é\"", "🎉 raw UTF-8 é"),
    ])
    func decodesEscapesAndSurrogatePairs(input: String, expected: String) throws {
        #expect(try JSON.parse(input) == .string(expected))
    }

    @Test func integersBeyond64BitsBecomeDoublesAndHugeNumbersAreErrors() throws {
        #expect(try JSON.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSON.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSON.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSON.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(try JSON.parse("1e308") == .double(1e308))
        let error = #expect(throws: JSONError.self) { try JSON.parse("[1e400]") }
        #expect(error?.message.contains("out of range") == true)
        #expect(error?.offset == 1)
    }

    @Test(arguments: [
        ("", 0, "unexpected end of input"),
        ("   ", 3, "unexpected end of input"),
        ("{\"a\":1,}", 7, "expected a string key"),
        ("[1,]", 3, "unexpected ']'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("{\"a\" 1}", 5, "expected ':'"),
        ("{'a':1}", 1, "expected a string key"),
        ("01", 0, "leading zeros"),
        ("1.", 0, "digit after '.'"),
        (".5", 0, "unexpected '.'"),
        ("+1", 0, "unexpected '+'"),
        ("-", 0, "digit after '-'"),
        ("1e", 0, "exponent"),
        ("tru", 0, "invalid literal"),
        ("nul", 0, "invalid literal"),
        ("\"abc", 0, "unterminated string"),
        ("\"a\nb\"", 2, "control character"),
        ("\"\\x\"", 1, "invalid escape"),
        ("\"\\u12zz\"", 1, "not a hex digit"),
        ("\"\\u12", 1, "truncated"),
        ("\"\\ud800\"", 1, "not followed by a low surrogate"),
        ("\"\\ud800\\u0041\"", 7, "not a low surrogate"),
        ("\"\\udc00\"", 1, "lone low surrogate"),
        ("{\"a\":1,\"a\":2}", 7, "duplicate key \"a\""),
        ("[1] [2]", 4, "after the JSON value"),
        ("[1]x", 3, "after the JSON value"),
        ("// comment\n1", 0, "unexpected '/'"),
    ])
    func refusesMalformedInputWithTheOffset(input: String, offset: Int, message: String) {
        let error = #expect(throws: JSONError.self) { try JSON.parse(input) }
        #expect(error?.offset == offset, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func reportsLineAndColumn() {
        let error = #expect(throws: JSONError.self) { try JSON.parse("{\n  \"a\": 1,\n  \"b\": ?\n}") }
        #expect(error?.line == 3)
        #expect(error?.column == 8)
        #expect(error?.description == "3:8: unexpected '?', expected a value (byte offset 19)")
    }

    @Test func refusesInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]  // "a" then a broken two-byte sequence
        let error = #expect(throws: JSONError.self) { try JSON.parse(bytes: bytes) }
        #expect(error?.offset == 2)
        #expect(error?.message == "invalid UTF-8 in string")
        let escaped: [UInt8] = Array("\"\\n".utf8) + [0xFF, 0x22]
        #expect(throws: JSONError.self) { try JSON.parse(bytes: escaped) }
    }

    @Test func nestingIsBoundedByTheDepthLimit() throws {
        let limits = JSONLimits(maxDepth: 64)
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSON.parse(ok, limits: limits)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = #expect(throws: JSONError.self) { try JSON.parse(deep, limits: limits) }
        #expect(error?.offset == 64)
        #expect(error?.message.contains("limit of 64") == true)
        // The default limit stops a hostile document long before the stack would.
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        let defaultError = #expect(throws: JSONError.self) { try JSON.parse(hostile) }
        #expect(defaultError?.message.contains("limit of \(JSONLimits.defaultMaxDepth)") == true)
    }

    @Test func sizeIsBoundedBeforeParsing() {
        let error = #expect(throws: JSONError.self) { try JSON.parse("[1, 2, 3]", limits: JSONLimits(maxBytes: 4)) }
        #expect(error?.message == "input is larger than the limit of 4 bytes")
    }

    @Test func largeObjectsStillCatchDuplicates() throws {
        var text = "{"
        for index in 0..<1000 { text += "\"k\(index)\":\(index)," }
        let valid = try JSON.parse(text + "\"last\":0}")
        #expect(valid.objectValue?.count == 1001)
        #expect(valid["k999"] == 999)
        let error = #expect(throws: JSONError.self) { try JSON.parse(text + "\"k500\":0}") }
        #expect(error?.message == "duplicate key \"k500\"")
    }
}
