import Foundation
import Testing
import ZooKeeperTestSupport

/// zkctl render / validate / crd as users run them.
@Suite struct ZkctlRenderTests {
    func write(_ text: String) throws -> String {
        let dir = try temporaryDirectory("zkctl")
        let file = dir.appendingPathComponent("input.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func validateExitsZeroOnValidAndOneOnInvalidWithEveryProblem() throws {
        let ok = try zkctl(["validate", "-f", repoRoot.appendingPathComponent("examples/zookeeper-3.yaml").path])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("valid: default/zk"))
        let bad = try zkctl(["validate", "-f", try write("""
            apiVersion: ensemble.dev/v1alpha1
            kind: Ensemble
            metadata:
              name: zk
            spec:
              engine: ZooKeeper
              replicas: 12
              podDisruptionBudget:
                maxUnavailable: 9
              zookeeper:
                config:
                  dataDir: /tmp
            """)])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("input.yaml:7:13: error: spec.replicas: must be between 1 and 9 for ZooKeeper, got 12"))
        #expect(bad.stderr.contains("error: spec.podDisruptionBudget.maxUnavailable:"))
        #expect(bad.stderr.contains("error: spec.zookeeper.config.dataDir: 'dataDir' is managed by the operator"))
    }

    @Test func warningsArePrintedButExitZero() throws {
        let result = try zkctl(["validate", "-f", try write("apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\nspec:\n  engine: ZooKeeper\n  replicas: 4\n")])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: spec.replicas: 4 members tolerate 1 failure(s)"))
    }

    @Test func malformedYAMLIsAClearErrorWithLineAndColumn() throws {
        let result = try zkctl(["render", "-f", try write("apiVersion: ensemble.dev/v1alpha1\nspec:\n  engine: [ZooKeeper\n")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("input.yaml:4:1: error: invalid YAML"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func missingFileAndUsageErrors() throws {
        let missing = try zkctl(["validate", "-f", "/nonexistent/ensemble.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/ensemble.yaml: no such file"))
        let usage = try zkctl(["render"])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--file"))
    }

    @Test func renderManyResourcesFromStdinAsYAMLAndJSON() throws {
        let input = try String(contentsOf: repoRoot.appendingPathComponent("examples/every-field.yaml"), encoding: .utf8)
        let yaml = try zkctl(["render", "-f", "-"], stdin: input)
        #expect(yaml.status == 0, "\(yaml.stderr)")
        #expect(yaml.stdout.components(separatedBy: "\n---\n").count == 9)
        let json = try zkctl(["render", "-f", "-", "-o", "json"], stdin: input)
        #expect(json.status == 0)
        let list = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(list?["kind"] as? String == "List")
        #expect((list?["items"] as? [Any])?.count == 9)
    }

    @Test func renderRefusesInvalidInputAndRendersNothing() throws {
        let result = try zkctl(["render", "-f", try write("apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\nspec:\n  engine: ZooKeeper\n  replicas: 20\n")])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
    }

    @Test func crdMatchesTheChart() throws {
        let result = try zkctl(["crd"])
        #expect(result.status == 0)
        let chart = try String(contentsOf: repoRoot.appendingPathComponent("charts/ensemble-operator/crds/ensembles.ensemble.dev.yaml"), encoding: .utf8)
        #expect(result.stdout == chart)
    }

    @Test func helpExplainsTheCommands() throws {
        let help = try zkctl(["--help"])
        #expect(help.status == 0)
        for command in ["render", "validate", "crd"] { #expect(help.stdout.contains(command)) }
    }
}
