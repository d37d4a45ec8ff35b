import EnsembleCore
import Testing

@Suite struct EmitTests {
    static let trickyStrings = [
        "", "true", "False", "yes", "NO", "on", "off", "null", "~", "1", "0.5", "1e3", "0x1F", "1Gi", "500m", "-Xmx1g",
        "a: b", "a #b", "#x", "x:", "- x", "[x]", "{x}", "*x", "&x", "!x", "|x", ">x", "%x", "@x", "`x", "'x'", "\"x\"",
        " lead", "trail ", "tab\there", "back\\slash", "multi\nline\n", "multi\nline", "ends\n\n", "ünïcödé ✓", "日本語",
        "metadata.labels['apps.kubernetes.io/pod-index']", "zookeeper:3.9.4", "kubernetes.io/hostname", "\u{7}bell",
        // Line breaks to YAML 1.1 parsers, C1 controls and the byte-order mark must be escaped.
        "x\u{85}y", "\u{2028}x", "a\u{2029}b\nc", "c1\u{9F}", "bom\u{FEFF}", "del\u{7F}", "multi\nline\u{85}\n",
    ]

    @Test func lineBreaksOtherParsersSeeAreEscaped() {
        for text in ["x\u{85}y", "\u{2028}x", "a\u{2029}b\nc\n"] {
            let yaml = Emit.yaml(["k": .string(text)])
            #expect(!yaml.unicodeScalars.contains { [0x85, 0x2028, 0x2029].contains($0.value) }, "\(yaml)")
        }
    }

    @Test(arguments: trickyStrings)
    func stringsSurviveAYAMLRoundTrip(_ text: String) throws {
        let value: Value = ["key": .string(text), "list": [.string(text), ["nested": .string(text)]]]
        let reread = try ManifestLoader.loadDocuments(yaml: Emit.yaml(value), source: "t").first?.value
        #expect(reread == value, "YAML:\n\(Emit.yaml(value))")
        let json = try ManifestLoader.loadDocuments(yaml: Emit.json(value), source: "t").first?.value
        #expect(json == value)
    }

    @Test func scalarsKeepTheirTypes() throws {
        let value: Value = ["i": 42, "n": -7, "b": true, "f": false, "empty": [:], "none": [], "d": .double(0.25)]
        let reread = try #require(try ManifestLoader.loadDocuments(yaml: Emit.yaml(value), source: "t").first?.value)
        #expect(reread == value)
    }

    @Test func multipleDocumentsAreSeparated() throws {
        let docs: [Value] = [["a": 1], ["b": 2]]
        let text = Emit.yamlDocuments(docs)
        #expect(text == "a: 1\n---\nb: 2\n")
        #expect(try ManifestLoader.loadDocuments(yaml: text, source: "t").map(\.value) == docs)
    }
}

@Suite struct QuantityTests {
    @Test(arguments: [
        ("500m", 0.5), ("1", 1.0), ("2Gi", 2 * 1073741824.0), ("1.5Gi", 1.5 * 1073741824.0), ("10M", 1e7), ("1k", 1000.0),
        ("100Ki", 102400.0), ("1e3", 1000.0), ("1E-3", 0.001), (".5", 0.5), ("+3", 3.0), ("250u", 0.00025), ("3Ti", 3 * 1099511627776.0),
    ])
    func validQuantities(text: String, value: Double) {
        #expect(Quantity.parse(text).map { abs($0 - value) <= value * 1e-12 } == true, "\(text)")
    }

    @Test(arguments: ["", "Gi", "1GB", "1gi", "1.2.3", "one", "1 Gi", "1e", "1Ki5", "--1"])
    func invalidQuantities(text: String) {
        #expect(Quantity.parse(text) == nil, "\(text)")
    }

    @Test func jvmSizes() {
        #expect(Quantity.isJVMSize("512m") && Quantity.isJVMSize("2G") && Quantity.isJVMSize("1024"))
        #expect(!Quantity.isJVMSize("1Gi") && !Quantity.isJVMSize("m") && !Quantity.isJVMSize("1.5g"))
        #expect(Quantity.jvmBytes("512m") == Double(512 * 1_048_576))
    }

    /// The CRD's heap rule is a regular expression per suffix ("a number at least N"): it
    /// must agree with the byte count for every size around each bound and far from it.
    @Test(arguments: [1, 4, 9, 10, 99, 100, 4096, 4_194_304, 1_000_000])
    func jvmSizePatternAgreesWithTheByteCount(minimum: Int) throws {
        let regex = try Regex(Quantity.jvmSizePattern(atLeast: minimum))
        var sizes: [String] = ["", "m", "0", "00", "1.5m", "1Gi", "-4m", "4 m", "99999999999999g"]
        for suffix in ["", "k", "K", "m", "M", "g", "G"] {
            let unit = ["": 1, "k": 1024, "m": 1_048_576, "g": 1_073_741_824][suffix.lowercased()]!
            let bound = (minimum + unit - 1) / unit
            for number in Set([0, 1, 2, 3, 9, 10, 11, 99, 100, 101, 1023, 1024, 4095, 4096, 4097, 12345, 4_194_303, 4_194_304, 4_194_305, 99_999_999]
                + [bound - 1, bound, bound + 1].filter { $0 >= 0 }) {
                sizes += ["\(number)\(suffix)", "00\(number)\(suffix)"]
            }
        }
        for size in sizes {
            let expected = Quantity.jvmBytes(size).map { $0 >= Double(minimum) } ?? false
            let matches = try regex.wholeMatch(in: size) != nil
            #expect(matches == expected, "\(size) against at least \(minimum) bytes")
        }
    }
}
