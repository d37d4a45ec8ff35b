import EnsembleCore
import Foundation
import Testing

/// Rendered examples and the CRD compared byte for byte with checked-in files. Run with
/// UPDATE_GOLDEN=1 to rewrite them after a deliberate change, then review the diff.
@Suite struct GoldenTests {
    static let examples = ["zookeeper-3", "zookeeper-5", "cassandra-3", "every-field"]

    @Test(arguments: examples)
    func renderedExampleMatchesGolden(_ name: String) throws {
        let ensembles = try loadExample("\(name).yaml")
        let rendered = Emit.yamlDocuments(ensembles.flatMap { Rendering.render($0) })
        try compare(rendered, golden: "Tests/EnsembleCoreTests/Golden/\(name).yaml")
    }

    @Test func chartCRDIsTheGeneratedCRD() throws {
        try compare(CRD.yaml(), golden: "charts/ensemble-operator/crds/ensembles.ensemble.dev.yaml")
    }

    @Test func renderedYAMLReadsBackAsTheSameObjects() throws {
        for name in Self.examples {
            let objects = try loadExample("\(name).yaml").flatMap { Rendering.render($0) }
            let reread = try ManifestLoader.loadDocuments(yaml: Emit.yamlDocuments(objects), source: name).map(\.value)
            #expect(reread == objects, "\(name) does not round-trip through YAML")
            let json = try ManifestLoader.loadDocuments(yaml: Emit.json(.array(objects)), source: name).map(\.value)
            #expect(json == [.array(objects)], "\(name) does not round-trip through JSON")
        }
    }

    func compare(_ text: String, golden relative: String) throws {
        let url = repoRoot.appendingPathComponent(relative)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        if expected != text {
            let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let b = text.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            let old = line < a.count ? String(a[line]) : "<end>"
            let new = line < b.count ? String(b[line]) : "<end>"
            Issue.record("\(relative) differs at line \(line + 1): golden '\(old)', now '\(new)' (UPDATE_GOLDEN=1 rewrites)")
        }
    }
}
