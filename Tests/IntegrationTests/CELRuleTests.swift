import EnsembleCore
import Foundation
import LocalEnsemble
import Testing
import ZooKeeperTestSupport

/// The CRD's `x-kubernetes-validations` evaluated by an independent CEL implementation
/// (cel-python) on defaulted objects, as the API server would at admission: valid examples
/// pass every rule, and each invalid case is rejected by the rule meant for it. No API server
/// can run here, so this is the closest check that the rules compile and mean what we say.
@Suite struct CELRuleTests {
    /// A rule and the object path it applies to; "[]" stands for every item of a list.
    struct RuleSite { var path: [String]; var rule: String; var message: String }

    /// Every rule in the generated CRD with the object path it applies to.
    static func ruleSites() -> [RuleSite] {
        var sites: [RuleSite] = []
        func walk(_ node: Value, _ path: [String]) {
            for rule in node["x-kubernetes-validations"]?.arrayValue ?? [] {
                sites.append(RuleSite(path: path, rule: rule["rule"]!.stringValue!, message: rule["message"]!.stringValue!))
            }
            for (name, child) in node["properties"]?.objectValue ?? Object() { walk(child, path + [name]) }
            if let items = node["items"] { walk(items, path + ["[]"]) }
        }
        walk(CRD.definition()["spec"]!["versions"]!.arrayValue![0]["schema"]!["openAPIV3Schema"]!, [])
        return sites
    }

    /// A resource as the API server stores it: spec defaulted from the schema.
    static func admitted(_ yaml: String) throws -> Value {
        var value = try #require(try ManifestLoader.loadDocuments(yaml: yaml, source: "t").first?.value)
        value["spec"] = EnsembleAPI.spec.applyingDefaults(to: value["spec"]!)
        return value
    }

    /// The values a path reaches, "[]" fanning out over list items.
    static func targets(_ path: [String], in value: Value) -> [Value] {
        var current = [value]
        for key in path {
            current = current.flatMap { node -> [Value] in
                if key == "[]" { return node.arrayValue ?? [] }
                return node[key].map { [$0] } ?? []
            }
        }
        return current
    }

    /// Evaluates every applicable rule; returns the messages of the rules that failed.
    static func failingRules(_ object: Value, old: Value? = nil) throws -> [String] {
        try failingRules(batch: [(object, old)])[0]
    }

    /// The same for several objects in one cel_eval.py run (a Python start costs most).
    static func failingRules(batch: [(object: Value, old: Value?)]) throws -> [[String]] {
        var items: [Value] = []
        var sites: [(object: Int, site: RuleSite)] = []
        for (index, entry) in batch.enumerated() {
            for site in ruleSites() {
                for target in targets(site.path, in: entry.object) {
                    var item: Value = ["rule": .string(site.rule), "self": target]
                    if site.rule.contains("oldSelf") {
                        // Transition rules sit on objects outside lists here.
                        guard let old = entry.old, let previous = targets(site.path, in: old).first else { continue }
                        item["oldSelf"] = previous
                    }
                    items.append(item)
                    sites.append((index, site))
                }
            }
        }
        let result = try runProcess("python3", [repoRoot.appendingPathComponent("scripts/cel_eval.py").path], stdin: Emit.json(.array(items), pretty: false))
        try #require(result.status == 0, "cel_eval.py: \(result.stderr)")
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [Any])
        var failing = Array(repeating: [String](), count: batch.count)
        for ((index, site), outcome) in zip(sites, decoded) {
            if let ok = outcome as? Bool {
                if !ok { failing[index].append(site.message) }
            } else {
                Issue.record("rule at \(site.path.joined(separator: ".")) does not evaluate: \(site.rule) -> \(outcome)")
            }
        }
        return failing
    }

    @Test func theCRDHasRulesAtEveryLevelWeRelyOn() {
        let paths = Set(Self.ruleSites().map { $0.path.joined(separator: ".") })
        #expect(paths.isSuperset(of: ["", "spec", "spec.engine", "spec.zookeeper", "spec.zookeeper.config", "spec.storage", "spec.pod",
                                      "spec.pod.volumes.[]", "spec.pod.volumeMounts.[]", "spec.pod.env.[]", "spec.pod.env.[].valueFrom",
                                      "spec.pod.sidecars.[]"]))
    }

    @Test func validExamplesPassEveryRule() throws {
        for name in ["zookeeper-3", "zookeeper-5", "cassandra-3", "every-field"] {
            let text = try String(contentsOf: repoRoot.appendingPathComponent("examples/\(name).yaml"), encoding: .utf8)
            for document in text.components(separatedBy: "\n---\n") {
                let object = try Self.admitted(document)
                #expect(try Self.failingRules(object, old: object) == [], "\(name)")
            }
        }
    }

    static let invalid: [(spec: String, name: String, message: String)] = [
        ("engine: ZooKeeper\nreplicas: 12", "zk", "ZooKeeper ensembles have 1 to 9 members"),
        ("engine: Cassandra\nzookeeper:\n  tickTime: 2000", "zk", "spec.zookeeper is only valid with engine ZooKeeper"),
        ("engine: ZooKeeper\ncassandra:\n  rack: r", "zk", "spec.cassandra is only valid with engine Cassandra"),
        ("engine: ZooKeeper\npodDisruptionBudget:\n  maxUnavailable: 2", "zk", "podDisruptionBudget.maxUnavailable must not exceed"),
        ("engine: ZooKeeper\nreplicas: 1\npodDisruptionBudget:\n  maxUnavailable: 1", "zk", "podDisruptionBudget.maxUnavailable must not exceed"),
        ("engine: ZooKeeper\nzookeeper:\n  config:\n    dataDir: /x", "zk", "config may not set keys the operator owns"),
        ("engine: ZooKeeper\nzookeeper:\n  config:\n    server.7: \"h:1:2\"", "zk", "config may not set keys the operator owns"),
        ("engine: ZooKeeper\nzookeeper:\n  config:\n    tickTime: \"1\"", "zk", "config may not set keys the operator owns"),
        ("engine: ZooKeeper\nzookeeper:\n  minSessionTimeout: 50000", "zk", "minSessionTimeout must not exceed maxSessionTimeout"),
        ("engine: ZooKeeper\nzookeeper:\n  heapSize: 1k", "zk", "must be a JVM size (digits with an optional k, m or g) of at least 4m"),
        ("engine: ZooKeeper\nzookeeper:\n  heapSize: 4095k", "zk", "of at least 4m"),
        ("engine: ZooKeeper\nzookeeper:\n  heapSize: 1Gi", "zk", "of at least 4m"),
        ("engine: Cassandra\ncassandra:\n  maxHeapSize: 3M\n  heapNewSize: 1M", "zk", "of at least 4m"),
        ("engine: ZooKeeper", String(repeating: "z", count: 53), "metadata.name must be at most 52 characters"),
        ("engine: ZooKeeper", "9zk", "metadata.name must start with a letter"),
        ("engine: ZooKeeper\npod:\n  volumes:\n  - {name: host, hostPath: {path: /var/run}}", "zk", "hostPath volumes must be named in allowedHostPathVolumes"),
        ("engine: ZooKeeper\npod:\n  volumes:\n  - {name: h, hostPath: {path: /x}}\n  allowedHostPathVolumes: [other]", "zk", "hostPath volumes must be named in allowedHostPathVolumes"),
        ("engine: ZooKeeper\npod:\n  volumes:\n  - {name: conf, emptyDir: {}}", "zk", "are the operator's"),
        ("engine: ZooKeeper\npod:\n  volumes:\n  - {name: x, emptyDir: {}, secret: {secretName: s}}", "zk", "a volume takes exactly one of configMap, secret, emptyDir and hostPath"),
        ("engine: ZooKeeper\npod:\n  volumes:\n  - {name: x}", "zk", "a volume takes exactly one of configMap, secret, emptyDir and hostPath"),
        ("engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /probe}", "zk", "mountPath must be an absolute path clear of the operator's"),
        ("engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /var/lib/cassandra/x}", "zk", "mountPath must be an absolute path clear of the operator's"),
        ("engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /var}", "zk", "mountPath must be an absolute path clear of the operator's"),
        ("engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: relative}", "zk", "mountPath must be an absolute path clear of the operator's"),
        ("engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: y, mountPath: /y}", "zk", "volumeMounts must name volumes from volumes"),
        ("engine: ZooKeeper\npod:\n  env:\n  - {name: A, value: x, valueFrom: {secretKeyRef: {name: s, key: k}}}", "zk", "an environment variable takes value or valueFrom, not both"),
        ("engine: ZooKeeper\npod:\n  env:\n  - {name: A, valueFrom: {}}", "zk", "valueFrom takes exactly one of secretKeyRef and configMapKeyRef"),
        ("engine: ZooKeeper\npod:\n  sidecars:\n  - {name: install, image: busybox}", "zk", "container names zookeeper, cassandra, install are the operator's"),
    ]

    /// Every invalid case is rejected by the rule meant for it, and by the offline validator.
    @Test func invalidInputIsRejectedByItsRule() throws {
        let objects = try Self.invalid.map { c in
            let spec = c.spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
            return try Self.admitted("apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: \(c.name)\nspec:\n\(spec)\n")
        }
        let failing = try Self.failingRules(batch: objects.map { ($0, $0) })
        for (c, (object, failed)) in zip(Self.invalid, zip(objects, failing)) {
            #expect(failed.contains { $0.contains(c.message) }, "\(c.spec): expected '\(c.message)', failing: \(failed)")
            let report = Validator.validate(document: SourceDocument(value: object, positions: [:], index: 0, source: "t"))
            #expect(!report.errors.isEmpty, "\(c.spec): the offline validator accepts it")
        }
    }

    /// The heap rule's boundary, and spellings the JVM accepts, pass at admission.
    @Test func smallestHeapsPassTheHeapRule() throws {
        for heap in ["4m", "4M", "4096k", "4194304", "1g", "512m"] {
            let object = try Self.admitted("apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\nspec:\n  engine: ZooKeeper\n  zookeeper:\n    heapSize: \"\(heap)\"\n")
            #expect(try Self.failingRules(object, old: object) == [], "\(heap)")
        }
    }

    @Test func immutableFieldsRejectChanges() throws {
        let old = try Self.admitted("apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\nspec:\n  engine: ZooKeeper\n  storage:\n    storageClassName: fast\n")
        var changedEngine = old
        changedEngine["spec"]?["engine"] = "Cassandra"
        changedEngine["spec"]?["zookeeper"] = nil
        #expect(try Self.failingRules(changedEngine, old: old).contains("engine is immutable"))
        var changedClass = old
        changedClass["spec"]?["storage"]?["storageClassName"] = "slow"
        #expect(try Self.failingRules(changedClass, old: old).contains { $0.hasPrefix("storageClassName is immutable") })
        // Unset (the cluster's default class) is a class too: setting it later changes nothing
        // for volumes that exist, so it is refused, and so is unsetting it.
        var unset = old
        unset["spec"]?["storage"]?["storageClassName"] = nil
        #expect(try Self.failingRules(old, old: unset).contains { $0.hasPrefix("storageClassName is immutable") })
        #expect(try Self.failingRules(unset, old: old).contains { $0.hasPrefix("storageClassName is immutable") })
        #expect(try Self.failingRules(unset, old: unset).isEmpty)
    }
}

/// `EnsembleAPI.minimumHeap` against the real JVM: it starts with that heap under each
/// collector a member may get, and refuses the heap the issue reported (`1k`), so the rule
/// neither lets through a heap that cannot start nor is a number picked from nowhere.
@Suite struct MinimumHeapTests {
    func java(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(try ZooKeeperInstallation.locate().java, arguments + ["-version"], timeout: 60)
    }

    @Test(arguments: ["-XX:+UseSerialGC", "-XX:+UseG1GC", "-XX:+UseParallelGC"])
    func theJVMStartsWithTheMinimumHeap(collector: String) throws {
        let heap = EnsembleAPI.minimumHeap
        let result = try java(["-Xms\(heap)", "-Xmx\(heap)", collector])
        #expect(result.status == 0, "\(collector) -Xmx\(heap): \(result.stderr)")
    }

    @Test func theJVMRefusesAHeapTheValidatorRefuses() throws {
        let result = try java(["-Xms1k", "-Xmx1k", "-XX:+UseSerialGC"])
        #expect(result.status != 0)
        // HotSpot reports VM initialisation errors on stdout.
        #expect((result.stdout + result.stderr).contains("Too small maximum heap"), "\(result.stdout)\(result.stderr)")
    }
}
