import EnsembleCore
import Testing

/// YAML alias bombs, deep nesting and oversized documents are refused by the pre-pass over
/// libyaml's events, with the line and column at fault, before Yams composes anything.
/// (On a loader without the pre-pass these documents take minutes and gigabytes: the
/// zkctl test in IntegrationTests bounds that with a deadline.)
@Suite struct DocumentLimitTests {
    /// `levels` anchors, each a list of `fanOut` aliases of the previous one.
    static func laughs(levels: Int, fanOut: Int = 9) -> String {
        var lines = ["a0: &a0 [" + Array(repeating: "\"lol\"", count: fanOut).joined(separator: ",") + "]"]
        for level in 1..<levels {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: fanOut).joined(separator: ",") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func refusal(_ yaml: String) -> LoadError? {
        do {
            _ = try ManifestLoader.loadDocuments(yaml: yaml, source: "bomb.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func billionLaughsIsRefusedAtTheAliasThatCrossesTheLimit() throws {
        let error = try #require(refusal(Self.laughs(levels: 9)))
        #expect(error.message == "document expands aliases beyond \(DocumentLimits.maxNodes) nodes")
        // a4 expands to 66430 nodes: the fourth *a4 on line 6 pushes the total past 250000.
        #expect(error.position == SourcePosition(line: 6, column: 18))
        #expect(error.description.hasPrefix("bomb.yaml:6:18: error: "))
        #expect(error.description.contains(": error: document expands aliases"))
    }

    static func mappingBomb() -> String {
        var lines = ["m0: &m0 lol"]
        for level in 1...9 {
            let values: [String] = (0..<9).map { "k\($0): *m\(level - 1)" }
            lines.append("m\(level): &m\(level) {" + values.joined(separator: ", ") + "}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func mergeBomb() -> String {
        let keys: [String] = (0..<4000).map { "k\($0): \($0)" }
        let merges: [String] = (1...20).map { "c\($0): {<<: *b0}" }
        return "b0: &b0 {" + keys.joined(separator: ", ") + "}\n" + merges.joined(separator: "\n") + "\n"
    }

    static func bombInResource() -> String {
        let indented: [String] = laughs(levels: 9).split(separator: "\n").map { "      " + $0 }
        return "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata: {name: zk}\nspec:\n  engine: ZooKeeper\n"
            + "  scheduling:\n    nodeAffinity:\n" + indented.joined(separator: "\n") + "\n"
    }

    /// Every shape of expansion counts: mapping values, mapping keys (which Yams hashes
    /// while composing), merge keys, and a bomb inside a resource's pass-through field.
    static let shapes: [String: String] = [
        "mapping values": mappingBomb(), "complex key": laughs(levels: 9) + "? *a8\n: boom\n",
        "merge keys": mergeBomb(), "inside a resource": bombInResource(),
    ]

    @Test(arguments: shapes.keys.sorted())
    func everyShapeOfBombIsRefused(_ shape: String) throws {
        let yaml = try #require(Self.shapes[shape])
        let error = try #require(refusal(yaml))
        #expect(error.message.hasPrefix("document expands aliases beyond"), "\(error)")
        #expect(error.position != nil)
    }

    /// A small file may not multiply itself even below the absolute node limit.
    @Test func smallDocumentsMayNotMultiplyThemselves() throws {
        let error = try #require(refusal(Self.laughs(levels: 5)))  // 9^5 = 59049 nodes from 5 lines
        #expect(error.message.hasPrefix("document expands aliases beyond"), "\(error)")
        #expect(error.message.contains("aliases may add at most 10000"))
        #expect(error.position?.line == 5)
    }

    @Test func deepNestingIsRefusedAtTheLevelPastTheLimit() throws {
        func flow(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        let error = try #require(refusal(flow(100)))
        #expect(error.message == "document nests deeper than \(DocumentLimits.maxDepth) levels")
        #expect(error.position == SourcePosition(line: 1, column: DocumentLimits.maxDepth + 1))
        let block = (0..<100).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " x\n"
        #expect(try #require(refusal(block)).position == SourcePosition(line: DocumentLimits.maxDepth + 1, column: DocumentLimits.maxDepth + 1))
        // libyaml's scanner looks far ahead in flow context and stops at its own limit
        // (1000 levels) first: refused before any event, so before any tree either.
        #expect(try #require(refusal(flow(100_000))).message.contains("nesting level"))
        // Within the limit it loads.
        #expect(refusal(flow(DocumentLimits.maxDepth)) == nil)
    }

    @Test func aliasesCannotNestADocumentDeeperThanTheLimit() throws {
        let half = DocumentLimits.maxDepth / 2 + 1
        let deep = String(repeating: "[", count: half) + "1" + String(repeating: "]", count: half)
        let yaml = "a: &deep \(deep)\nb: " + String(repeating: "[", count: half) + "*deep" + String(repeating: "]", count: half) + "\n"
        let error = try #require(refusal(yaml))
        #expect(error.message == "alias *deep nests the document deeper than \(DocumentLimits.maxDepth) levels")
        #expect(error.position?.line == 2)
        // Exactly at the limit: the root mapping, 31 lists around the alias, 32 in what it names.
        func nested(_ levels: Int, _ inner: String) -> String {
            String(repeating: "[", count: levels) + inner + String(repeating: "]", count: levels)
        }
        let atLimit = "a: &deep \(nested(32, "1"))\nb: \(nested(31, "*deep"))\n"
        #expect(refusal(atLimit) == nil)
        #expect(refusal("a: &deep \(nested(32, "1"))\nb: \(nested(32, "*deep"))\n") != nil)
    }

    @Test func oversizedDocumentsAreRefused() throws {
        let value = String(repeating: "x", count: 1024)
        let lines = (0..<(DocumentLimits.maxDocumentBytes / 1024 + 8)).map { "k\($0): \(value)" }
        let error = try #require(refusal(lines.joined(separator: "\n") + "\n"))
        #expect(error.message == "document is larger than \(DocumentLimits.maxDocumentBytes) bytes")
        // Several documents each below the limit are fine together.
        let half = lines.prefix(lines.count / 2).joined(separator: "\n")
        #expect(refusal(half + "\n---\n" + half + "\n") == nil)
    }

    @Test func honestAnchorsAndMergeKeysLoadAsKubectlReadsThem() throws {
        let yaml = """
            apiVersion: ensemble.dev/v1alpha1
            kind: Ensemble
            metadata:
              name: zk
              labels: &labels {team: orders, tier: data}
              annotations:
                <<: *labels
                tier: overridden
            spec:
              engine: ZooKeeper
              pod:
                labels: *labels
              scheduling:
                tolerations:
                - &spot {key: spot, operator: Exists, effect: NoSchedule}
                - <<: *spot
                  effect: NoExecute
            """
        let document = try #require(try ManifestLoader.loadDocuments(yaml: yaml, source: "a.yaml").first)
        #expect(document.value.lookup("metadata.annotations") == ["tier": "overridden", "team": "orders"])
        #expect(document.value.lookup("spec.pod.labels") == ["team": "orders", "tier": "data"])
        let tolerations = try #require(document.value.lookup("spec.scheduling.tolerations")?.arrayValue)
        #expect(tolerations[1] == ["effect": "NoExecute", "key": "spot", "operator": "Exists"])
        // Positions of merged fields point at where they were written.
        #expect(document.positions["spec.scheduling.tolerations[1].key"]?.line == 15)
        #expect(document.positions["spec.scheduling.tolerations[1].effect"]?.line == 17)
        let ensemble = try #require(EnsembleDecoder.decode(document).ensemble)
        #expect(ensemble.spec.pod.labels == ["team": "orders", "tier": "data"])
    }

    @Test func aThousandHonestAnchorsLoad() throws {
        var lines = ["apiVersion: ensemble.dev/v1alpha1", "kind: Ensemble", "metadata: {name: zk}", "spec:", "  engine: ZooKeeper",
                     "  scheduling:", "    nodeAffinity:", "      defs:"]
        for i in 0..<1000 { lines.append("      - &z\(i) {key: zone, operator: In, values: [z\(i)a, z\(i)b]}") }
        lines.append("      uses:")
        for i in 0..<1000 { lines.append("      - [*z\(i), *z\((i + 1) % 1000)]") }
        let document = try #require(try ManifestLoader.loadDocuments(yaml: lines.joined(separator: "\n"), source: "a.yaml").first)
        let uses = try #require(document.value.lookup("spec.scheduling.nodeAffinity.uses")?.arrayValue)
        #expect(uses.count == 1000)
        #expect(uses[999].arrayValue?[1]["values"] == ["z0a", "z0b"])
    }

    @Test func mergeKeysTakeOnlyMappings() throws {
        let error = try #require(refusal("a: &a [1, 2]\nb:\n  <<: *a\n"))
        #expect(error.message == "b: a merge key (<<) takes a mapping or a list of mappings")
        #expect(error.position == SourcePosition(line: 3, column: 3))
    }
}
