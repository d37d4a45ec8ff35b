import EnsembleCore
import Foundation
import Testing
import ZooKeeperTestSupport

/// Every rendered manifest of every example, and the CRD, against the real Kubernetes
/// OpenAPI schemas of several minor versions (kubernetes-validate, strict: unknown fields fail).
@Suite struct KubernetesSchemaTests {
    static let versions = ["1.32.0", "1.34.0", "1.36.0"]
    static let examples = ["zookeeper-3", "zookeeper-5", "cassandra-3", "every-field"]

    /// Renders through the real zkctl binary, so the CLI path is what gets validated.
    func renderedFiles(in dir: URL) throws -> (files: [String], manifests: Int) {
        var files: [String] = []
        var manifests = 0
        for name in Self.examples {
            let result = try zkctl(["render", "-f", repoRoot.appendingPathComponent("examples/\(name).yaml").path])
            #expect(result.status == 0, "render \(name): \(result.stderr)")
            let file = dir.appendingPathComponent("\(name).yaml")
            try result.stdout.write(to: file, atomically: true, encoding: .utf8)
            files.append(file.path)
            manifests += result.stdout.components(separatedBy: "\n---\n").count
        }
        // The same objects with owner references, as the operator applies them.
        var owned = try ManifestLoader.loadEnsembles(yaml: String(contentsOf: repoRoot.appendingPathComponent("examples/zookeeper-3.yaml"), encoding: .utf8), source: "x")[0]
        owned.metadata.uid = "0f8a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
        let ownedObjects = Rendering.render(owned)
        let ownedFile = dir.appendingPathComponent("owned.yaml")
        try Emit.yamlDocuments(ownedObjects).write(to: ownedFile, atomically: true, encoding: .utf8)
        files.append(ownedFile.path)
        manifests += ownedObjects.count
        let crd = try zkctl(["crd"])
        let crdFile = dir.appendingPathComponent("crd.yaml")
        try crd.stdout.write(to: crdFile, atomically: true, encoding: .utf8)
        files.append(crdFile.path)
        return (files, manifests + 1)
    }

    @Test(arguments: versions)
    func renderedManifestsAndCRDPassStrictValidation(version: String) throws {
        let dir = try temporaryDirectory("k8s-validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (files, manifests) = try renderedFiles(in: dir)
        let result = try runProcess("kubernetes-validate", ["--strict", "-k", version] + files, timeout: 300)
        #expect(result.status == 0, "kubernetes-validate \(version):\n\(result.stdout)\n\(result.stderr)")
        let passed = result.stdout.components(separatedBy: "\n").filter { $0.contains(" passed for resource ") }.count
        #expect(passed == manifests, "expected \(manifests) manifests to pass against \(version), saw \(passed):\n\(result.stdout)")
        #expect(manifests >= 25)
    }

    @Test func aBrokenManifestIsCaught() throws {
        // Proves the validator is really strict here: an unknown field must fail.
        let dir = try temporaryDirectory("k8s-validate-neg")
        defer { try? FileManager.default.removeItem(at: dir) }
        var objects = Rendering.render(try ManifestLoader.loadEnsembles(yaml: resourceText, source: "x")[0])
        objects[objects.count - 1]["spec"]?["replicaz"] = 3
        let file = dir.appendingPathComponent("broken.yaml")
        try Emit.yamlDocuments(objects).write(to: file, atomically: true, encoding: .utf8)
        let result = try runProcess("kubernetes-validate", ["--strict", "-k", Self.versions[0], file.path], timeout: 300)
        #expect(result.status != 0)
    }

    let resourceText = "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\nspec:\n  engine: ZooKeeper\n"
}
