/// Serialises `Value`s as YAML (block style, the form people read and `kubectl apply`) or
/// JSON. Written here rather than through Yams so output order and quoting are ours and stable.
public enum Emit {
    /// Several documents separated by `---`.
    public static func yamlDocuments(_ values: [Value]) -> String {
        values.map { yaml($0) }.joined(separator: "---\n")
    }

    public static func yaml(_ value: Value) -> String {
        var out = ""
        switch value {
        case .object(let object) where !object.isEmpty: writeObject(object, indent: 0, into: &out)
        case .array(let items) where !items.isEmpty: writeArray(items, indent: 0, into: &out)
        default: out = scalar(value) + "\n"
        }
        return out
    }

    private static func writeObject(_ object: Object, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (key, value) in object {
            out += pad + yamlKey(key) + ":"
            writeNested(value, indent: indent, into: &out)
        }
    }

    private static func writeArray(_ items: [Value], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            switch item {
            case .object(let object) where !object.isEmpty:
                // First key on the dash line, the rest aligned under it.
                var nested = ""
                writeObject(object, indent: indent + 2, into: &nested)
                out += pad + "- " + nested.dropFirst(indent + 2)
            case .array(let inner) where !inner.isEmpty:
                out += pad + "-\n"
                writeArray(inner, indent: indent + 2, into: &out)
            default:
                out += pad + "-"
                writeNested(item, indent: indent, into: &out)
            }
        }
    }

    /// Writes what follows "key:" or "-": an inline scalar, or a nested block.
    private static func writeNested(_ value: Value, indent: Int, into out: inout String) {
        switch value {
        case .object(let object) where !object.isEmpty:
            out += "\n"
            writeObject(object, indent: indent + 2, into: &out)
        case .array(let items) where !items.isEmpty:
            out += "\n"
            writeArray(items, indent: indent, into: &out)
        case .string(let text) where isBlockLiteralCandidate(text):
            let chomp = text.hasSuffix("\n") ? "" : "-"
            out += " |" + chomp + "\n"
            let body = text.hasSuffix("\n") ? String(text.dropLast()) : text
            let pad = String(repeating: " ", count: indent + 2)
            for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
                out += line.isEmpty ? "\n" : pad + line + "\n"
            }
        default:
            out += " " + scalar(value) + "\n"
        }
    }

    private static func isBlockLiteralCandidate(_ text: String) -> Bool {
        guard text.contains("\n"), !text.hasPrefix(" "), !text.hasSuffix("\n\n") else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "\n" || isSafeLiteral($0) }
            && !text.split(separator: "\n").contains { $0.hasSuffix(" ") }
    }

    /// Characters every YAML parser reads back as themselves inside a literal: YAML's printable
    /// set without the ones YAML 1.1 parsers (kubectl's among them) take as line breaks
    /// (U+0085, U+2028, U+2029) and without the byte-order mark.
    static func isSafeLiteral(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x20...0x7E: return true
        case 0xA0...0xD7FF: return c.value != 0x2028 && c.value != 0x2029
        case 0xE000...0xFFFD: return c.value != 0xFEFF
        case 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    private static func yamlKey(_ key: String) -> String {
        isPlainSafe(key) ? key : jsonString(key)
    }

    private static func scalar(_ value: Value) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return jsonNumber(d)
        case .string(let s): return isPlainSafe(s) ? s : jsonString(s)
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    /// True when a plain (unquoted) YAML scalar reads back as this exact string under both
    /// YAML 1.1 and 1.2 resolvers: no indicators, no number/bool/null look-alikes.
    static func isPlainSafe(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        let ambiguous: Set<String> = [
            "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
        ]
        if ambiguous.contains(s.lowercased()) { return false }
        guard first.properties.isAlphabetic || first == "/" || first == "_" else { return false }
        if s.hasSuffix(":") || s.hasSuffix(" ") { return false }
        for c in s.unicodeScalars {
            if c.properties.isAlphabetic || ("0"..."9").contains(c) { continue }
            if "-_./=+()@ ".unicodeScalars.contains(c) { continue }
            if c == ":" { continue }
            return false
        }
        if s.contains(": ") || s.contains(" #") { return false }
        // "1e3"-like or sexagesimal forms start with a digit and are excluded above.
        return true
    }

    // MARK: JSON

    public static func json(_ value: Value, pretty: Bool = true) -> String {
        var out = ""
        writeJSON(value, indent: pretty ? 0 : nil, into: &out)
        return out + (pretty ? "\n" : "")
    }

    private static func writeJSON(_ value: Value, indent: Int?, into out: inout String) {
        let newline = indent == nil ? "" : "\n"
        let inner = indent.map { String(repeating: " ", count: $0 + 2) } ?? ""
        let outer = indent.map { String(repeating: " ", count: $0) } ?? ""
        let colon = indent == nil ? ":" : ": "
        switch value {
        case .array(let items) where !items.isEmpty:
            out += "[" + newline
            for (i, item) in items.enumerated() {
                out += inner
                writeJSON(item, indent: indent.map { $0 + 2 }, into: &out)
                out += (i < items.count - 1 ? "," : "") + newline
            }
            out += outer + "]"
        case .object(let object) where !object.isEmpty:
            out += "{" + newline
            for (i, entry) in object.entries.enumerated() {
                out += inner + jsonString(entry.key) + colon
                writeJSON(entry.value, indent: indent.map { $0 + 2 }, into: &out)
                out += (i < object.count - 1 ? "," : "") + newline
            }
            out += outer + "}"
        case .string(let s): out += jsonString(s)
        default: out += scalar(value)
        }
    }

    static func jsonNumber(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return String(d)
    }

    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if !isSafeLiteral(c) {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
