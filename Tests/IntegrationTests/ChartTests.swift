import EnsembleCore
import Foundation
import Testing
import ZooKeeperTestSupport

/// The Helm chart, rendered and linted by Helm's own Go SDK (helm-python-sdk) with several
/// value sets, every object checked by kubernetes-validate (scripts/chart_check.py), then
/// judged here: RBAC equal to what the operator uses, the Deployment hardened and probed.
@Suite struct ChartTests {
    /// The script's JSON report, produced once for the whole suite.
    static let reportText: Result<String, any Error> = Result {
        let result = try runProcess("python3", [repoRoot.appendingPathComponent("scripts/chart_check.py").path,
                                                repoRoot.appendingPathComponent("charts/ensemble-operator").path], timeout: 120)
        guard result.status == 0 else { throw ChartCheckFailed(output: result.stdout + result.stderr) }
        return result.stdout
    }

    struct ChartCheckFailed: Error { var output: String }

    func report() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(Self.reportText.get().utf8)) as! [String: Any]
    }

    func set(_ name: String) throws -> [String: Any] {
        let report = try report()
        return try #require((report["sets"] as? [String: Any])?[name] as? [String: Any])
    }

    func objects(_ name: String) throws -> [[String: Any]] { try set(name)["objects"] as! [[String: Any]] }

    func object(_ objects: [[String: Any]], kind: String, name: String? = nil) -> [String: Any]? {
        objects.first { $0["kind"] as? String == kind && (name == nil || ($0["metadata"] as? [String: Any])?["name"] as? String == name) }
    }

    func rules(_ role: [String: Any]?) -> Set<OperatorPermissions.Rule> {
        var out = Set<OperatorPermissions.Rule>()
        for rule in role?["rules"] as? [[String: Any]] ?? [] {
            for group in rule["apiGroups"] as? [String] ?? [] {
                for resource in rule["resources"] as? [String] ?? [] {
                    out.insert(OperatorPermissions.Rule(group, resource, Set(rule["verbs"] as? [String] ?? [])))
                }
            }
        }
        return out
    }

    func container(_ objects: [[String: Any]]) throws -> [String: Any] {
        let deployment = try #require(object(objects, kind: "Deployment"))
        let pod = ((deployment["spec"] as! [String: Any])["template"] as! [String: Any])["spec"] as! [String: Any]
        return (pod["containers"] as! [[String: Any]])[0]
    }

    @Test(arguments: ["defaults", "ha", "namespaced", "bare"])
    func lintsStrictAndValidates(set name: String) throws {
        let set = try set(name)
        #expect((set["lint"] as! [String]).isEmpty, "helm lint --strict: \(set["lint"]!)")
        #expect((set["validation"] as! [String]).isEmpty, "kubernetes-validate: \(set["validation"]!)")
        #expect(!(set["objects"] as! [Any]).isEmpty)
    }

    @Test func crdValidates() throws {
        let crds = try #require(report()["crds"] as? [[String: Any]])
        #expect(crds.count == 1)
        #expect((crds[0]["validation"] as! [String]).isEmpty, "\(crds[0])")
    }

    @Test func clusterWideRBACIsExactlyWhatTheOperatorUses() throws {
        let objects = try objects("defaults")
        #expect(rules(object(objects, kind: "ClusterRole")) == Set(OperatorPermissions.rules))
        #expect(object(objects, kind: "Role") == nil, "no lease permissions without leader election")
        #expect(object(objects, kind: "ClusterRoleBinding") != nil)
    }

    @Test func namespacedRBACStaysInTheWatchedNamespace() throws {
        let objects = try objects("namespaced")
        #expect(object(objects, kind: "ClusterRole") == nil && object(objects, kind: "ClusterRoleBinding") == nil)
        let role = try #require(object(objects, kind: "Role", name: "ens-ensemble-operator"))
        #expect((role["metadata"] as! [String: Any])["namespace"] as? String == "team-a")
        #expect(rules(role) == Set(OperatorPermissions.rules))
        let args = try container(objects)["args"] as! [String]
        #expect(args.contains("--namespace=team-a"))
        #expect(args.contains("--leader-elect"), "leaderElection.enabled forces it on with one replica")
    }

    @Test func leaderElectionComesWithReplicas() throws {
        let single = try container(objects("defaults"))["args"] as! [String]
        #expect(!single.contains("--leader-elect"))
        let objects = try objects("ha")
        let args = try container(objects)["args"] as! [String]
        #expect(args.contains("--leader-elect") && args.contains("--leader-election-namespace=ops"))
        let lease = try #require(object(objects, kind: "Role", name: "ens-ensemble-operator-leader-election"))
        #expect((lease["metadata"] as! [String: Any])["namespace"] as? String == "ops")
        #expect(rules(lease) == Set(OperatorPermissions.leaderElection))
    }

    @Test func theOperatorPodIsHardenedAndProbed() throws {
        let objects = try objects("defaults")
        let deployment = try #require(object(objects, kind: "Deployment"))
        let pod = ((deployment["spec"] as! [String: Any])["template"] as! [String: Any])["spec"] as! [String: Any]
        #expect((pod["securityContext"] as! [String: Any])["runAsNonRoot"] as? Bool == true)
        let c = try container(objects)
        let security = c["securityContext"] as! [String: Any]
        #expect(security["readOnlyRootFilesystem"] as? Bool == true && security["allowPrivilegeEscalation"] as? Bool == false)
        #expect((security["capabilities"] as! [String: Any])["drop"] as? [String] == ["ALL"])
        #expect(((c["livenessProbe"] as! [String: Any])["httpGet"] as! [String: Any])["path"] as? String == "/healthz")
        #expect(((c["readinessProbe"] as! [String: Any])["httpGet"] as! [String: Any])["path"] as? String == "/readyz")
        let resources = c["resources"] as! [String: Any]
        #expect(resources["requests"] != nil && resources["limits"] != nil)
        #expect((c["command"] as? [String]) == ["/usr/local/bin/ensemble-operator"])
        let args = c["args"] as! [String]
        #expect(args.contains("--probe-image=ghcr.io/ensemble-dev/ensemble-operator:0.1.0"), "the operator image carries the probe")
        #expect(object(objects, kind: "Service", name: "ens-ensemble-operator-metrics") != nil)
    }

    @Test func optionalObjectsFollowTheirValues() throws {
        let objects = try objects("bare")
        #expect(objects.map { $0["kind"] as! String } == ["Deployment"])
        let deployment = try #require(object(objects, kind: "Deployment"))
        let pod = ((deployment["spec"] as! [String: Any])["template"] as! [String: Any])["spec"] as! [String: Any]
        #expect(pod["serviceAccountName"] as? String == "existing")
        #expect((try container(objects)["args"] as! [String]).contains("--probe-image=registry.local/probe:1"))
    }

    @Test func invalidValuesAreRejectedByTheSchemaNamingTheKey() throws {
        let invalid = try #require(report()["invalid"] as? [String: [String]])
        let expected = ["zero-replicas": "/replicas", "bad-log-format": "/logFormat", "unknown-key": "replica", "bad-namespace": "/watchNamespace"]
        for (name, key) in expected {
            let messages = invalid[name] ?? []
            #expect(messages.contains { $0.contains(key) }, "\(name): \(messages)")
        }
    }

    @Test func notesExplainTheNextSteps() throws {
        let notes = try set("namespaced")["notes"] as! String
        #expect(notes.contains("namespace team-a") && notes.contains("kubectl get ensembles -n team-a"))
    }

    /// The image puts both binaries where the Deployment and the member pods' init
    /// containers look for them.
    @Test func dockerfileShipsBothBinariesAtTheRenderedPaths() throws {
        let dockerfile = try String(contentsOf: repoRoot.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("COPY --from=build /out/ensemble-probe \(ProbeInstall.sourceBinary)"))
        #expect(dockerfile.contains("COPY --from=build /out/ensemble-operator /usr/local/bin/ensemble-operator"))
        #expect(dockerfile.contains("-static-executable"), "the probe must run in the stock ZooKeeper and Cassandra images")
        #expect(dockerfile.contains("USER 65532:65532"))
        #expect(dockerfile.contains("ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072"),
                "the malloc settings the benchmark measures with")
    }
}
