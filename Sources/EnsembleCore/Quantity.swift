/// Kubernetes resource quantities ("500m", "1Gi", "2", "1e3") and JVM sizes ("512M").
public enum Quantity {
    /// The pattern the API server applies to quantities (as in its OpenAPI for resource.Quantity).
    public static let pattern = #"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"#

    private static let binary: [String: Double] = [
        "Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776, "Pi": 1125899906842624, "Ei": 1152921504606846976,
    ]
    private static let decimal: [String: Double] = [
        "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    ]

    /// The numeric value of a quantity, or nil when it is not valid Kubernetes syntax.
    public static func parse(_ text: String) -> Double? {
        var s = Substring(text)
        var sign = 1.0
        if s.first == "+" { s.removeFirst() } else if s.first == "-" { sign = -1; s.removeFirst() }
        var number = ""
        var sawDigit = false, sawDot = false
        while let c = s.first, c.isASCII, c.isNumber || (c == "." && !sawDot) {
            if c == "." { sawDot = true } else { sawDigit = true }
            number.append(c)
            s.removeFirst()
        }
        guard sawDigit, let mantissa = Double(number.hasPrefix(".") ? "0" + number : number) else { return nil }
        let suffix = String(s)
        if let factor = binary[suffix] ?? decimal[suffix] { return sign * mantissa * factor }
        if let first = suffix.first, first == "e" || first == "E" {
            var exponent = suffix.dropFirst()
            var expSign = 1.0
            if exponent.first == "+" { exponent.removeFirst() } else if exponent.first == "-" { expSign = -1; exponent.removeFirst() }
            guard !exponent.isEmpty, exponent.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  let e = Double(exponent) else { return nil }
            return sign * mantissa * pow10(expSign * e)
        }
        return nil
    }

    public static func parse(_ value: Value) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return parse(s)
        default: return nil
        }
    }

    /// JVM heap syntax accepted by -Xmx: digits with an optional k/m/g suffix (either case).
    public static func isJVMSize(_ text: String) -> Bool {
        var digits = Substring(text)
        if let last = digits.last, "kKmMgG".contains(last) { digits.removeLast() }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Bytes for a JVM size, for comparisons with memory quantities.
    public static func jvmBytes(_ text: String) -> Double? {
        guard isJVMSize(text) else { return nil }
        var digits = Substring(text)
        var factor = 1.0
        if let last = digits.last, !last.isNumber {
            factor = ["k": 1024, "m": 1048576, "g": 1073741824][last.lowercased()]!
            digits.removeLast()
        }
        return Double(digits).map { $0 * factor }
    }

    /// A regular expression (RE2 and ECMA alike, for CEL's `matches`) for JVM sizes of at
    /// least `bytes`: CEL cannot turn "512m" into a number, so the bound is spelled out per
    /// suffix as "a decimal number at least N".
    public static func jvmSizePattern(atLeast bytes: Int) -> String {
        let units: [(suffix: String, factor: Int)] = [("", 1), ("[kK]", 1024), ("[mM]", 1_048_576), ("[gG]", 1_073_741_824)]
        let alternatives = units.map { unit in
            "(" + decimalPattern(atLeast: max(1, (bytes + unit.factor - 1) / unit.factor)) + ")" + unit.suffix
        }
        return "^0*(" + alternatives.joined(separator: "|") + ")$"
    }

    /// Decimal numbers without leading zeros that are at least `minimum` (at least 1): any
    /// longer number, or one as long that first exceeds `minimum` at some digit, or `minimum`.
    static func decimalPattern(atLeast minimum: Int) -> String {
        let digits = Array(String(max(1, minimum)))
        var alternatives = ["[1-9][0-9]{\(digits.count),}"]
        for (index, digit) in digits.enumerated() {
            let value = digit.wholeNumberValue!
            guard value < 9 else { continue }
            let rest = digits.count - index - 1
            alternatives.append(String(digits[..<index]) + "[\(value + 1)-9]" + (rest > 1 ? "[0-9]{\(rest)}" : rest == 1 ? "[0-9]" : ""))
        }
        alternatives.append(String(digits))
        return alternatives.joined(separator: "|")
    }

    private static func pow10(_ e: Double) -> Double {
        var result = 1.0
        let n = Int(abs(e))
        for _ in 0..<min(n, 400) { result *= 10 }
        return e < 0 ? 1 / result : result
    }
}

/// Text that appears in every rendered resource as a string, so YAML round-trips it exactly.
extension Value {
    var quantityText: String? {
        switch self {
        case .int(let i): return String(i)
        case .double(let d): return Emit.jsonNumber(d)
        case .string(let s): return s
        default: return nil
        }
    }
}
