import EnsembleCore
import Testing
import ZKConfig

@Suite struct RenderingTests {
    func render(_ spec: String, name: String = "zk", uid: String? = nil) throws -> [Value] {
        var ensemble = try decodeOne(resource(name: name, spec))
        ensemble.metadata.uid = uid
        return Rendering.render(ensemble)
    }

    func sts(_ objects: [Value]) throws -> Value { try #require(object(objects, kind: "StatefulSet")) }

    @Test func ownerReferencesOnEverythingWhenTheEnsembleHasAUID() throws {
        let objects = try render("engine: ZooKeeper", uid: "1234-abcd")
        for object in objects {
            let reference = object.at("metadata.ownerReferences[0]")
            #expect(reference?["uid"] == "1234-abcd", "\(object["kind"]!)")
            #expect(reference?["kind"] == "Ensemble")
            #expect(reference?["controller"] == true)
            #expect(reference?["blockOwnerDeletion"] == true)
        }
        // Offline rendering has no UID to point at, and says nothing rather than a fake one.
        #expect(try render("engine: ZooKeeper").allSatisfy { $0.at("metadata.ownerReferences") == nil })
    }

    @Test func configChangesChangeThePodTemplateHash() throws {
        let hash = { (spec: String) throws -> Value? in try self.sts(try self.render(spec)).at("spec.template.metadata.annotations")?[Rendering.configHashAnnotation] }
        let base = try #require(try hash("engine: ZooKeeper"))
        #expect(try hash("engine: ZooKeeper") == base, "the hash is deterministic")
        #expect(try hash("engine: ZooKeeper\nzookeeper:\n  tickTime: 3000") != base)
        #expect(try hash("engine: ZooKeeper\nzookeeper:\n  config:\n    snapCount: \"10\"") != base)
        // The membership travels in the ConfigMap's own key: a scale step rolls nobody.
        #expect(try hash("engine: ZooKeeper\nreplicas: 5") == base, "the member list is not in the hash")
        #expect(try hash("engine: ZooKeeper\nzookeeper:\n  logLevel: DEBUG") != base)
        // Pod-only changes do not touch the configuration hash.
        #expect(try hash("engine: ZooKeeper\nimage: zookeeper:3.9.3") == base)
    }

    @Test func selectorsNeverChangeAcrossUpdates() throws {
        let specs = ["engine: ZooKeeper", "engine: ZooKeeper\nreplicas: 5", "engine: ZooKeeper\nimage: zookeeper:3.8.4",
                     "engine: ZooKeeper\npod:\n  labels:\n    team: a", "engine: ZooKeeper\nzookeeper:\n  tickTime: 3000"]
        let selectors = try specs.map { try sts(try render($0)).at("spec.selector") }
        #expect(Set(selectors.map { Emit.json($0!) }).count == 1)
        let objects = try render("engine: ZooKeeper\npod:\n  labels:\n    team: a")
        let selector = try #require(try sts(objects).at("spec.selector.matchLabels")?.objectValue)
        let podLabels = try #require(try sts(objects).at("spec.template.metadata.labels")?.objectValue)
        #expect(selector.allSatisfy { podLabels[$0.key] == $0.value })
        for kind in ["PodDisruptionBudget"] {
            #expect(object(objects, kind: kind)?.at("spec.selector.matchLabels") == .object(selector))
        }
        for service in objects.filter({ $0["kind"] == "Service" }) {
            #expect(service.at("spec.selector") == .object(selector))
        }
    }

    @Test func membersRunAsNonRootWithoutPrivileges() throws {
        for spec in ["engine: ZooKeeper", "engine: Cassandra"] {
            let pod = try #require(try sts(try render(spec)).at("spec.template.spec"))
            #expect(pod.at("securityContext.runAsNonRoot") == true)
            #expect(pod["automountServiceAccountToken"] == false)
            for container in (pod["containers"]?.arrayValue ?? []) + (pod["initContainers"]?.arrayValue ?? []) {
                #expect(container.at("securityContext.allowPrivilegeEscalation") == false)
                #expect(container.at("securityContext.capabilities.drop") == ["ALL"])
                #expect(container.at("securityContext.privileged") == nil)
            }
        }
        let zk = try sts(try render("engine: ZooKeeper"))
        #expect(zk.at("spec.template.spec.securityContext.runAsUser") == 1000)
        #expect(zk.at("spec.template.spec.securityContext.fsGroup") == 1000)
        #expect(zk.at("spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem") == true)
    }

    @Test func zooKeeperServicesAndStatefulSetShape() throws {
        let objects = try render("engine: ZooKeeper\nservice:\n  type: LoadBalancer\n  annotations:\n    a.example.com/x: \"1\"")
        let headless = try #require(objects.first { $0.at("metadata.name") == "zk-hs" })
        #expect(headless.at("spec.clusterIP") == "None")
        #expect(headless.at("spec.publishNotReadyAddresses") == true)
        // Peer ports, and the metrics provider's (on by default).
        #expect(headless.at("spec.ports")?.arrayValue?.compactMap { $0["port"]?.intValue } == [2888, 3888, 7000])
        #expect(headless.at("spec.ports[2].name") == "metrics")
        #expect(headless.at("metadata.annotations")?["prometheus.io/port"] == "7000")
        let client = try #require(objects.first { $0.at("metadata.name") == "zk-client" })
        #expect(client.at("spec.type") == "LoadBalancer")
        #expect(client.at("spec.ports[0].port") == 2181)
        #expect(client.at("metadata.annotations")?["a.example.com/x"] == "1")
        let set = try sts(objects)
        // Readiness needs a quorum: OrderedReady would never create member 1 (see Render.swift).
        #expect(set.at("spec.podManagementPolicy") == "Parallel")
        #expect(set.at("spec.updateStrategy.type") == "OnDelete")
        #expect(set.at("spec.serviceName") == "zk-hs")
        let config = try #require(object(objects, kind: "ConfigMap")?.at("data"))
        #expect(config["zoo.cfg"]?.stringValue?.contains("server.") == false, "members take the membership from zoo.cfg.dynamic")
        #expect(config[Rendering.membershipKey]?.stringValue?.contains("\nserver.3=zk-2.zk-hs.default.svc.cluster.local:2888:3888:participant;2181\n") == true)
        #expect(config["logback.xml"]?.stringValue?.contains("ConsoleAppender") == true)
    }

    @Test(arguments: ["Required", "Preferred"])
    func antiAffinitySelectsTheMembers(mode: String) throws {
        let pod = try #require(try sts(try render("engine: ZooKeeper\nscheduling:\n  antiAffinity: \(mode)")).at("spec.template"))
        let term = mode == "Required"
            ? pod.at("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]")
            : pod.at("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm")
        let selector = try #require(term?.at("labelSelector.matchLabels")?.objectValue)
        let labels = try #require(pod.at("metadata.labels")?.objectValue)
        #expect(!selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value })
        #expect(term?["topologyKey"] == "kubernetes.io/hostname")
    }

    @Test func cassandraRingShape() throws {
        let objects = try render("engine: Cassandra\ncassandra:\n  numTokens: 32\n  datacenter: east\n  rack: r2", name: "ring")
        let set = try sts(objects)
        let container = try #require(set.at("spec.template.spec.containers[0]"))
        #expect(container["ports"]?.arrayValue?.compactMap { $0["containerPort"]?.intValue } == [7000, 7001, 7199, 9042])
        #expect(container.at("lifecycle.preStop.exec.command") == ["nodetool", "drain"])
        let env = Dictionary(uniqueKeysWithValues: (container["env"]?.arrayValue ?? []).compactMap { e in e["value"]?.stringValue.map { (e["name"]!.stringValue!, $0) } })
        #expect(env["CASSANDRA_NUM_TOKENS"] == "32")
        #expect(env["CASSANDRA_DC"] == "east")
        #expect(env["CASSANDRA_RACK"] == "r2")
        #expect(env["CASSANDRA_ENDPOINT_SNITCH"] == "GossipingPropertyFileSnitch")
        #expect(env["MAX_HEAP_SIZE"] == "512M")
        #expect(container.at("readinessProbe.exec.command[1]") == "cql-ready")
        #expect(set.at("spec.template.spec.terminationGracePeriodSeconds") == 500)
        #expect(set.at("spec.podManagementPolicy") == "OrderedReady", "Cassandra nodes join one at a time")
        // Startup and liveness on the storage port: CQL opens only after bootstrap. The port
        // listens on the pod's IP only (listen_address), which the probe reads from POD_IP.
        for probe in ["startupProbe", "livenessProbe"] {
            #expect(container.at("\(probe).exec.command")?.arrayValue?.dropLast(2).map { $0 } == [
                "/probe/ensemble-probe", "tcp-live", "--host-env", "POD_IP", "--port", "7000"])
        }
        #expect(container["env"]?.arrayValue?.contains(["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]) == true)
        let headless = try #require(objects.first { $0.at("metadata.name") == "ring-hs" })
        #expect(headless.at("spec.publishNotReadyAddresses") == true)
        #expect(objects.first { $0.at("metadata.name") == "ring-client" }?.at("spec.ports[0].port") == 9042)
    }

    @Test func reclaimPolicyDrivesTheClaimRetention() throws {
        let set = try sts(try render("engine: ZooKeeper\nstorage:\n  reclaimPolicy: Delete\n  storageClassName: ssd"))
        #expect(set.at("spec.persistentVolumeClaimRetentionPolicy.whenDeleted") == "Delete")
        #expect(set.at("spec.persistentVolumeClaimRetentionPolicy.whenScaled") == "Delete")
        #expect(set.at("spec.volumeClaimTemplates[0].spec.storageClassName") == "ssd")
        // "" is Kubernetes' "no class" and is passed on; unset leaves the field out (the default class).
        #expect(try sts(try render("engine: ZooKeeper\nstorage:\n  storageClassName: \"\"")).at("spec.volumeClaimTemplates[0].spec.storageClassName") == "")
        #expect(try sts(try render("engine: ZooKeeper")).at("spec.volumeClaimTemplates[0].spec.storageClassName") == nil)
    }

    @Test func podDisruptionBudgetCanBeDisabled() throws {
        #expect(object(try render("engine: ZooKeeper\npodDisruptionBudget:\n  enabled: false"), kind: "PodDisruptionBudget") == nil)
    }

    /// The user's preStop commands run before ours through the probe's hook runner, which
    /// runs ours (nodetool drain) whatever happens to them; several postStart commands too.
    @Test func userHooksRunBeforeOursNeverInsteadOfThem() throws {
        let ring = try sts(try render("engine: Cassandra\npod:\n  lifecycle:\n    preStop:\n    - command: [/bin/sh, -c, \"deregister\"]", name: "ring"))
        #expect(ring.at("spec.template.spec.containers[0].lifecycle.preStop.exec.command") == [
            "/probe/ensemble-probe", "hooks", "--budget", "250", "3", "/bin/sh", "-c", "deregister", "--finally", "2", "nodetool", "drain"])
        let zk = try sts(try render("engine: ZooKeeper\npod:\n  terminationGracePeriodSeconds: 40\n  lifecycle:\n    postStart:\n    - command: [a]\n    - command: [b, c]\n    preStop:\n    - command: [d]"))
        let container = try #require(zk.at("spec.template.spec.containers[0]"))
        #expect(container.at("lifecycle.postStart.exec.command") == ["/probe/ensemble-probe", "hooks", "1", "a", "2", "b", "c"])
        #expect(container.at("lifecycle.preStop.exec.command") == ["/probe/ensemble-probe", "hooks", "--budget", "20", "1", "d"])
        // One postStart command runs as written; ZooKeeper has no preStop of its own.
        let single = try sts(try render("engine: ZooKeeper\npod:\n  lifecycle:\n    postStart:\n    - command: [/bin/true]"))
        #expect(single.at("spec.template.spec.containers[0].lifecycle") == ["postStart": ["exec": ["command": ["/bin/true"]]]])
        #expect(try sts(try render("engine: ZooKeeper")).at("spec.template.spec.containers[0].lifecycle") == nil)
    }

    @Test func podOptionsAreRenderedAsThePodAPIHasThem() throws {
        let set = try sts(try render("""
            engine: ZooKeeper
            pod:
              env:
              - {name: TOKEN, valueFrom: {configMapKeyRef: {name: cm, key: token, optional: true}}}
              - {name: EMPTY}
              volumes:
              - {name: certs, secret: {secretName: tls, defaultMode: 256}}
              volumeMounts:
              - {name: certs, mountPath: /certs, readOnly: true, subPath: pem}
              imagePullSecrets: [{name: regcred}]
              serviceAccountName: zk-sa
              sidecars:
              - {name: own, image: busybox, securityContext: {runAsUser: 4000}}
              - {name: plain, image: busybox}
            """))
        let pod = try #require(set.at("spec.template.spec"))
        let env = try #require(pod.at("containers[0].env")?.arrayValue)
        #expect(env.contains(["name": "TOKEN", "valueFrom": ["configMapKeyRef": ["name": "cm", "key": "token", "optional": true]]]))
        #expect(env.contains(["name": "EMPTY", "value": ""]))
        #expect(pod["volumes"]?.arrayValue?.last == ["name": "certs", "secret": ["secretName": "tls", "defaultMode": 256]])
        #expect(pod.at("containers[0].volumeMounts")?.arrayValue?.last == ["name": "certs", "mountPath": "/certs", "subPath": "pem", "readOnly": true])
        #expect(pod["imagePullSecrets"] == [["name": "regcred"]])
        #expect(pod["serviceAccountName"] == "zk-sa")
        #expect(pod["automountServiceAccountToken"] == false)
        #expect(pod.at("containers")?.arrayValue?.map { $0["name"] } == ["zookeeper", "own", "plain"])
        #expect(pod.at("containers[1].securityContext") == ["runAsUser": 4000])
        #expect(pod.at("containers[2].securityContext.allowPrivilegeEscalation") == false)
        #expect(pod.at("containers[2].securityContext.capabilities.drop") == ["ALL"])
    }

    @Test func metricsProviderIsOnByDefaultAndCanBeTurnedOff() throws {
        let on = try render("engine: ZooKeeper\nzookeeper:\n  metrics:\n    port: 7070\n    serviceMonitor: true")
        let zooCfg = try #require(object(on, kind: "ConfigMap")?.at("data")?["zoo.cfg"]?.stringValue)
        #expect(zooCfg.contains("metricsProvider.className=\(Defaults.metricsProviderClass)\nmetricsProvider.httpPort=7070\n"))
        #expect(try sts(on).at("spec.template.spec.containers[0].ports[3]") == ["name": "metrics", "containerPort": 7070])
        let monitor = try #require(object(on, kind: "ServiceMonitor"))
        #expect(monitor["apiVersion"] == "monitoring.coreos.com/v1")
        #expect(monitor.at("metadata.name") == "zk-metrics")
        #expect(monitor.at("spec.endpoints") == [["port": "metrics", "path": "/metrics"]])
        let headless = try #require(on.first { $0.at("metadata.name") == "zk-hs" })
        let selected = try #require(monitor.at("spec.selector.matchLabels")?.objectValue)
        #expect(selected.allSatisfy { headless.at("metadata.labels")?[$0.key] == $0.value })
        #expect(headless.at("spec.ports")?.arrayValue?.contains(["name": "metrics", "port": 7070, "targetPort": 7070]) == true)

        let off = try render("engine: ZooKeeper\nzookeeper:\n  metrics:\n    enabled: false")
        #expect(object(off, kind: "ConfigMap")?.at("data")?["zoo.cfg"]?.stringValue?.contains("metricsProvider") == false)
        #expect(off.first { $0.at("metadata.name") == "zk-hs" }?.at("metadata.annotations") == nil)
        #expect(try sts(off).at("spec.template.spec.containers[0].ports")?.arrayValue?.count == 3)
        #expect(object(try render("engine: ZooKeeper"), kind: "ServiceMonitor") == nil, "only when asked for")
        // Cassandra has no ZooKeeper metrics provider.
        #expect(try render("engine: Cassandra", name: "ring").allSatisfy { $0["kind"] != "ServiceMonitor" && $0.at("metadata.annotations")?["prometheus.io/scrape"] == nil })
    }
}

@Suite struct CRDTests {
    func properties(_ node: Value, _ path: String, into result: inout [(String, Value)]) {
        for (name, child) in node["properties"]?.objectValue ?? Object() {
            let childPath = path.isEmpty ? name : "\(path).\(name)"
            result.append((childPath, child))
            properties(child, childPath, into: &result)
            if let items = child["items"] { properties(items, childPath + "[]", into: &result) }
            if let values = child["additionalProperties"] { properties(values, childPath + "{}", into: &result) }
        }
    }

    var schema: Value { CRD.definition()["spec"]!["versions"]!.arrayValue![0]["schema"]!["openAPIV3Schema"]! }

    @Test func everyFieldHasADescriptionForKubectlExplain() {
        var all: [(String, Value)] = []
        properties(schema, "", into: &all)
        #expect(all.count > 90)
        for (path, node) in all where path != "metadata" {
            let description = node["description"]?.stringValue ?? ""
            #expect(description.count > 3, "\(path) has no description")
        }
    }

    @Test func defaultsAreValidForTheirOwnSchema() {
        // The API server rejects a CRD whose defaults do not validate.
        for (path, schema) in EnsembleAPI.spec.leafPaths() {
            if let value = schema.defaultValue {
                #expect(schema.structuralProblems(of: value, path: path).isEmpty, "\(path) default \(value)")
            }
        }
    }

    /// What the API server demands of a structural schema, and of CEL rules' cost bounds.
    @Test func schemaIsStructuralAndCELCostIsBounded() {
        func walk(_ node: Value, _ path: String, underRule: Bool) {
            let preserve = node["x-kubernetes-preserve-unknown-fields"] == true
            let intOrString = node["x-kubernetes-int-or-string"] == true
            #expect(node["type"] != nil || preserve || intOrString, "\(path) has no type")
            let ruled = underRule || node["x-kubernetes-validations"] != nil
            if ruled {
                switch node["type"]?.stringValue {
                case "array": #expect(node["maxItems"] != nil, "\(path): list under a CEL rule needs maxItems")
                case "string": #expect(node["maxLength"] != nil || node["enum"] != nil, "\(path): string under a CEL rule needs maxLength")
                case "object" where node["additionalProperties"] != nil:
                    #expect(node["maxProperties"] != nil, "\(path): map under a CEL rule needs maxProperties")
                default: break
                }
            }
            if node["type"] == "integer" {
                #expect(node["format"] == "int64" || (node["maximum"]?.intValue ?? Int.max) <= Int(Int32.max), "\(path)")
            }
            for (name, child) in node["properties"]?.objectValue ?? Object() { walk(child, "\(path).\(name)", underRule: ruled) }
            if let items = node["items"] { walk(items, path + "[]", underRule: ruled) }
            if let values = node["additionalProperties"] { walk(values, path + "{}", underRule: ruled) }
        }
        walk(schema, "", underRule: false)
    }

    @Test func specIntegersFitJavasInt() {
        // ZooKeeper and the pod API parse these as 32-bit ints: a bigger value must be refused
        // before it reaches them.
        for (path, schema) in EnsembleAPI.spec.leafPaths() where schema.openAPI()["type"] == "integer" {
            #expect((schema.maximum ?? Int.max) <= Int(Int32.max), "spec.\(path) has no 32-bit maximum")
        }
    }

    @Test func namesStatusSubresourceAndPrinterColumns() {
        let crd = CRD.definition()
        #expect(crd.lookup("spec.names.shortNames") == ["ens"])
        #expect(crd.lookup("spec.scope") == "Namespaced")
        let version = crd["spec"]!["versions"]!.arrayValue![0]
        #expect(version.lookup("subresources.status") == .object(Object()))
        let columns = version["additionalPrinterColumns"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(columns == ["Engine", "Replicas", "Ready", "Leader", "Phase", "Age"])
        #expect(schema.lookup("properties.spec.properties.replicas.default") == 3)
    }
}

@Suite struct RobustnessTests {
    /// Every prefix of a real resource is fed to the loader and validator: garbage in must give
    /// errors out, never a crash or a hang.
    @Test func truncatedInputNeverCrashes() throws {
        let text = try readRepoFile("examples/every-field.yaml")
        let bytes = Array(text.utf8)
        var step = 0
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
            if let documents = try? ManifestLoader.loadDocuments(yaml: prefix, source: "cut") {
                for document in documents { _ = Validator.validate(document: document) }
            }
            step += 1
        }
        #expect(step > 100)
    }

    @Test(arguments: ["[]", "42", "\"text\"", "null", "{spec: []}", "{apiVersion: ensemble.dev/v1alpha1, kind: Ensemble, metadata: [], spec: {engine: ZooKeeper}}",
                      "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata: {name: zk}\nspec: {engine: ZooKeeper, replicas: 99999999999999999999}",
                      "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata: {name: zk}\nspec: {engine: ZooKeeper, pod: {env: [1, {name: A}, {value: b}]}}"])
    func oddDocumentsAreErrorsNotCrashes(_ yaml: String) throws {
        let documents = (try? ManifestLoader.loadDocuments(yaml: yaml, source: "odd")) ?? []
        for document in documents { #expect(!Validator.validate(document: document).isValid) }
    }
}

/// The membership members start with, and what follows its size.
@Suite struct MembershipRenderingTests {
    func sts(_ objects: [Value]) throws -> Value { try #require(object(objects, kind: "StatefulSet")) }

    static let live = DynamicConfig(servers: [
        .init(id: 1, role: .participant, value: "zk-0.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181"),
        .init(id: 2, role: .participant, value: "zk-1.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181"),
        .init(id: 4, role: .participant, value: "zk-3.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181"),
        .init(id: 5, role: .participant, value: "zk-4.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181"),
    ], version: 0x4_0000_0007)

    /// Before the ensemble forms, members 0 to replicas - 1 at version 0; after, the live
    /// membership as read, with its version. The join template names a member by its pod.
    @Test func theConfigMapCarriesTheMembershipStartingMembersGet() throws {
        let ensemble = try decodeOne(resource("engine: ZooKeeper\nreplicas: 5"))
        let initial = try #require(object(Rendering.render(ensemble), kind: "ConfigMap")?.at("data")?[Rendering.membershipKey]?.stringValue)
        let staged = try StagedMembership.parse(initial)
        #expect(staged.config.version == 0)
        #expect(staged.config.servers.map(\.id) == [1, 2, 3, 4, 5])
        #expect(staged.config.server(ordinal: 4)?.value == "zk-4.zk-hs.default.svc.cluster.local:2888:3888:participant;2181")
        #expect(staged.joinTemplate == "zk-{ordinal}.zk-hs.default.svc.cluster.local:2888:3888:participant;2181")
        #expect(staged.start(ordinal: 7).servers.last?.value == "zk-7.zk-hs.default.svc.cluster.local:2888:3888:participant;2181")

        let objects = Rendering.render(ensemble, membership: Self.live)
        let text = try #require(object(objects, kind: "ConfigMap")?.at("data")?[Rendering.membershipKey]?.stringValue)
        #expect(try StagedMembership.parse(text).config == Self.live)
        #expect(text.contains("\nversion=400000007\n"))
        // Only the membership moved: the pods' configuration hash is the same.
        let hashes = [Rendering.render(ensemble), objects].map { try? self.sts($0).at("spec.template.metadata.annotations")?[Rendering.configHashAnnotation] }
        #expect(hashes[0] != nil && hashes[0] == hashes[1])
    }

    /// The budget never allows more disruptions than the voters of the live configuration
    /// can take: growing 1 -> 3, a second pod runs before a second member votes.
    @Test(arguments: [(3, [0], 0), (3, [0, 1], 0), (3, [0, 1, 2], 1), (5, [0, 1, 2], 1), (3, [0, 1, 2, 3, 4], 1), (1, [0, 1, 2], 0)])
    func theDisruptionBudgetFollowsTheVoters(replicas: Int, voters: [Int], expected: Int) throws {
        let ensemble = try decodeOne(resource("engine: ZooKeeper\nreplicas: \(replicas)"))
        let membership = DynamicConfig(servers: voters.map { .init(id: $0 + 1, role: .participant, value: "h\($0):2888:3888;2181") }
                                       + [.init(id: 9, role: .observer, value: "h8:2888:3888:observer;2181")], version: 5)
        let pdb = try #require(object(Rendering.render(ensemble, membership: membership), kind: "PodDisruptionBudget"))
        #expect(pdb.at("spec.maxUnavailable") == .int(expected))
    }

    /// Cassandra keeps no ZooKeeper membership, whatever is passed.
    @Test func cassandraIgnoresAMembership() throws {
        let ensemble = try decodeOne(resource(name: "ring", "engine: Cassandra\nreplicas: 5"))
        #expect(Rendering.render(ensemble, membership: Self.live) == Rendering.render(ensemble))
    }
}
