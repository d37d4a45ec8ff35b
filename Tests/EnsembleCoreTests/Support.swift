import EnsembleCore
import Foundation
import Testing

/// The repository root, found from this file's path so tests run from any directory.
let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func readRepoFile(_ relative: String) throws -> String {
    try String(contentsOf: repoRoot.appendingPathComponent(relative), encoding: .utf8)
}

func loadExample(_ name: String) throws -> [Ensemble] {
    try ManifestLoader.loadEnsembles(yaml: readRepoFile("examples/\(name)"), source: name)
}

/// A minimal resource with `spec` lines appended (already indented by two spaces).
func resource(name: String = "zk", _ specLines: String = "engine: ZooKeeper") -> String {
    let spec = specLines.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    return """
        apiVersion: ensemble.dev/v1alpha1
        kind: Ensemble
        metadata:
          name: \(name)
        spec:
        \(spec)
        """
}

func decodeOne(_ yaml: String) throws -> Ensemble {
    let ensembles = try ManifestLoader.loadEnsembles(yaml: yaml, source: "test.yaml")
    try #require(ensembles.count == 1)
    return ensembles[0]
}

func problems(_ yaml: String) throws -> [Problem] {
    let documents = try ManifestLoader.loadDocuments(yaml: yaml, source: "test.yaml")
    return documents.flatMap { Validator.validate(document: $0).problems }
}

/// The object of a kind in rendered output.
func object(_ objects: [Value], kind: String) -> Value? {
    objects.first { $0["kind"]?.stringValue == kind }
}
