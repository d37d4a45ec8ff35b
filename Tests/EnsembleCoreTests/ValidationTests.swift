import EnsembleCore
import Testing

/// One case per validation rule: the spec (lines under `spec:`), the field path that must be
/// reported and a fragment of the message.
struct RuleCase: CustomTestStringConvertible, Sendable {
    var spec: String
    var path: String
    var message: String
    var severity: Problem.Severity = .error
    var name: String = "zk"
    var testDescription: String { "\(path): \(message)" }
}

@Suite struct ValidationTests {
    static let cases: [RuleCase] = [
        // Replica bounds per engine; even ZooKeeper counts are a warning only.
        RuleCase(spec: "engine: ZooKeeper\nreplicas: 12", path: "spec.replicas", message: "must be between 1 and 9 for ZooKeeper, got 12"),
        RuleCase(spec: "engine: ZooKeeper\nreplicas: 0", path: "spec.replicas", message: "must be at least 1, got 0"),
        RuleCase(spec: "engine: Cassandra\nreplicas: 101", path: "spec.replicas", message: "must be at most 100, got 101"),
        RuleCase(spec: "engine: ZooKeeper\nreplicas: 4", path: "spec.replicas", message: "an odd count is recommended", severity: .warning),
        // Types, enums, unknown fields.
        RuleCase(spec: "engine: Zookeeper", path: "spec.engine", message: "must be one of ZooKeeper, Cassandra, got 'Zookeeper'"),
        RuleCase(spec: "replicas: 3", path: "spec.engine", message: "is required"),
        RuleCase(spec: "engine: ZooKeeper\nreplicas: three", path: "spec.replicas", message: "must be an integer, got string 'three'"),
        RuleCase(spec: "engine: ZooKeeper\nreplica: 3", path: "spec.replica", message: "unknown field (did you mean 'replicas'?)"),
        RuleCase(spec: "engine: ZooKeeper\nservice:\n  type: Ingress", path: "spec.service.type", message: "must be one of ClusterIP, NodePort, LoadBalancer"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  antiAffinity: Sometimes", path: "spec.scheduling.antiAffinity", message: "must be one of Required, Preferred"),
        RuleCase(spec: "engine: ZooKeeper\nstorage:\n  reclaimPolicy: Recycle", path: "spec.storage.reclaimPolicy", message: "must be one of Retain, Delete"),
        // Kubernetes quantities.
        RuleCase(spec: "engine: ZooKeeper\nstorage:\n  size: 10GB", path: "spec.storage.size", message: "must be a Kubernetes quantity"),
        RuleCase(spec: "engine: ZooKeeper\nresources:\n  requests:\n    cpu: half", path: "spec.resources.requests.cpu", message: "must be a Kubernetes quantity"),
        RuleCase(spec: "engine: ZooKeeper\nresources:\n  limits:\n    memory: 1.5.0Gi", path: "spec.resources.limits.memory", message: "must be a Kubernetes quantity"),
        RuleCase(spec: "engine: ZooKeeper\nresources:\n  requests:\n    memory: 4Gi\n  limits:\n    memory: 2Gi", path: "spec.resources.requests.memory", message: "must not exceed the limit (2Gi)"),
        RuleCase(spec: "engine: ZooKeeper\nresources:\n  requests:\n    cpu: \"2\"\n  limits:\n    cpu: 1500m", path: "spec.resources.requests.cpu", message: "must not exceed the limit (1500m)"),
        RuleCase(spec: "engine: ZooKeeper\nstorage:\n  size: \"0\"", path: "spec.storage.size", message: "must be greater than zero"),
        // Heap sizes.
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  heapSize: 1Gi", path: "spec.zookeeper.heapSize", message: "must be a JVM size"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  heapSize: 2g", path: "spec.zookeeper.heapSize", message: "does not fit in the container's memory (1Gi)"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  heapNewSize: 600M", path: "spec.cassandra.heapNewSize", message: "must be smaller than maxHeapSize"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  maxHeapSize: 1T", path: "spec.cassandra.maxHeapSize", message: "must be a JVM size"),
        // Below the smallest heap the JVM starts with (`heapSize: 1k` used to pass and then the
        // JVM refused to start).
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  heapSize: 1k", path: "spec.zookeeper.heapSize", message: "must be at least 4m: the JVM does not start with a smaller heap, got '1k'"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  heapSize: 4095k", path: "spec.zookeeper.heapSize", message: "must be at least 4m"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  heapSize: \"0\"", path: "spec.zookeeper.heapSize", message: "must be at least 4m"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  maxHeapSize: 2M\n  heapNewSize: 1M", path: "spec.cassandra.maxHeapSize", message: "must be at least 4m"),
        // Names that keep every generated name within Kubernetes limits.
        RuleCase(spec: "engine: ZooKeeper", path: "metadata.name", message: "must be at most 52 characters", name: String(repeating: "a", count: 53)),
        RuleCase(spec: "engine: ZooKeeper", path: "metadata.name", message: "start with a letter", name: "1zk"),
        RuleCase(spec: "engine: ZooKeeper", path: "metadata.name", message: "lower-case letters", name: "Zk"),
        RuleCase(spec: "engine: ZooKeeper\nclusterDomain: " + String(repeating: "d", count: 60) + "." + String(repeating: "e", count: 60) + "." + String(repeating: "f", count: 60) + "." + String(repeating: "g", count: 40),
                 path: "metadata.name", message: "is longer than 253 characters", name: String(repeating: "n", count: 50)),
        RuleCase(spec: "engine: ZooKeeper\nclusterDomain: Cluster_Local", path: "spec.clusterDomain", message: "must be a DNS domain"),
        // ZooKeeper overrides the operator owns.
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    dataDir: /tmp", path: "spec.zookeeper.config.dataDir", message: "'dataDir' is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    clientPort: \"2182\"", path: "spec.zookeeper.config.clientPort", message: "is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    server.4: \"h:2888:3888\"", path: "spec.zookeeper.config[server.4]", message: "the member list is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    myid: \"7\"", path: "spec.zookeeper.config.myid", message: "is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    dynamicConfigFile: /x", path: "spec.zookeeper.config.dynamicConfigFile", message: "is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    standaloneEnabled: \"true\"", path: "spec.zookeeper.config.standaloneEnabled", message: "is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    tickTime: \"3000\"", path: "spec.zookeeper.config.tickTime", message: "is set through spec.zookeeper.tickTime"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    4lw.commands.whitelist: srvr", path: "spec.zookeeper.config[4lw.commands.whitelist]", message: "is set through spec.zookeeper.fourLetterWords"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    \"a b\": x", path: "spec.zookeeper.config.a b", message: "is not a valid zoo.cfg key"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    snapCount: \"1\\nserver.9=evil:1:2\"", path: "spec.zookeeper.config.snapCount", message: "value must be a single line"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    snapCount: \"1\\u0085server.9=evil:1:2\"", path: "spec.zookeeper.config.snapCount", message: "without control characters"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    snapCount: \"1\\\\\"", path: "spec.zookeeper.config.snapCount", message: "must not end with"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    \"snap!Count\": \"1\"", path: "spec.zookeeper.config.snap!Count", message: "is not a valid zoo.cfg key"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    peerType: observer", path: "spec.zookeeper.config.peerType", message: "is managed by the operator"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  fourLetterWords: [ruok, STAT]", path: "spec.zookeeper.fourLetterWords[1]", message: "must be four lower-case letters"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  minSessionTimeout: 50000", path: "spec.zookeeper.minSessionTimeout", message: "must not exceed maxSessionTimeout (40000)"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  minSessionTimeout: 1000", path: "spec.zookeeper.minSessionTimeout", message: "below 2 x tickTime", severity: .warning),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  tickTime: 10", path: "spec.zookeeper.tickTime", message: "must be at least 100, got 10"),
        // PodDisruptionBudget never above floor((n-1)/2).
        RuleCase(spec: "engine: ZooKeeper\npodDisruptionBudget:\n  maxUnavailable: 2", path: "spec.podDisruptionBudget.maxUnavailable", message: "must be at most floor((replicas-1)/2) = 1 for 3 members, got 2"),
        RuleCase(spec: "engine: ZooKeeper\nreplicas: 5\npodDisruptionBudget:\n  maxUnavailable: 3", path: "spec.podDisruptionBudget.maxUnavailable", message: "= 2 for 5 members, got 3"),
        RuleCase(spec: "engine: ZooKeeper\nreplicas: 1", path: "spec.podDisruptionBudget", message: "node drains will wait", severity: .warning),
        // Engine blocks.
        RuleCase(spec: "engine: Cassandra\nzookeeper:\n  tickTime: 2000", path: "spec.zookeeper", message: "is only valid when spec.engine is ZooKeeper"),
        RuleCase(spec: "engine: ZooKeeper\ncassandra:\n  rack: r1", path: "spec.cassandra", message: "is only valid when spec.engine is Cassandra"),
        RuleCase(spec: "engine: Cassandra\nreplicas: 2\ncassandra:\n  seeds: 3", path: "spec.cassandra.seeds", message: "must not exceed spec.replicas (2), got 3"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  datacenter: \"dc/1\"", path: "spec.cassandra.datacenter", message: "may contain only letters"),
        // Labels, annotations, env.
        RuleCase(spec: "engine: ZooKeeper\npod:\n  labels:\n    app.kubernetes.io/instance: other", path: "spec.pod.labels[app.kubernetes.io/instance]", message: "cannot be overridden"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  labels:\n    team: \"a b\"", path: "spec.pod.labels.team", message: "is not a valid label value"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  labels:\n    \"bad key!\": x", path: "spec.pod.labels.bad key!", message: "is not a valid label key"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  annotations:\n    ensemble.dev/config-hash: x", path: "spec.pod.annotations[ensemble.dev/config-hash]", message: "is set by the operator"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: JVMFLAGS\n    value: -Xmx9g", path: "spec.pod.env[0].name", message: "'JVMFLAGS' is set by the operator"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: 1BAD", path: "spec.pod.env[0].name", message: "is not a valid variable name"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: A\n  - name: A", path: "spec.pod.env[1].name", message: "is listed twice"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - value: x", path: "spec.pod.env[0].name", message: "is required"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  priorityClassName: High_Priority", path: "spec.pod.priorityClassName", message: "must be a DNS subdomain"),
        RuleCase(spec: "engine: ZooKeeper\nstorage:\n  storageClassName: Fast_SSD", path: "spec.storage.storageClassName", message: "must be a DNS subdomain"),
        // Pod options: volumes, mounts, env from Secrets and ConfigMaps, hooks, sidecars.
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - name: data\n    emptyDir: {}", path: "spec.pod.volumes[0].name", message: "'data' is a volume of the operator's"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: x, emptyDir: {}}\n  - {name: x, emptyDir: {}}", path: "spec.pod.volumes[1].name", message: "is listed twice (also item 0)"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - name: x", path: "spec.pod.volumes[0]", message: "needs a source: configMap, secret, emptyDir or hostPath"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: x, emptyDir: {}, configMap: {name: c}}", path: "spec.pod.volumes[0]", message: "has several sources (configMap, emptyDir)"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: host, hostPath: {path: /var/run}}", path: "spec.pod.volumes[0].hostPath", message: "allowed only for volumes named in spec.pod.allowedHostPathVolumes"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: host, emptyDir: {}}\n  allowedHostPathVolumes: [host]", path: "spec.pod.allowedHostPathVolumes[0]", message: "is not a hostPath volume"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: host, hostPath: {path: var/run}}\n  allowedHostPathVolumes: [host]", path: "spec.pod.volumes[0].hostPath.path", message: "must be an absolute path"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: c, configMap: {name: Bad_Name}}", path: "spec.pod.volumes[0].configMap.name", message: "must be a DNS subdomain"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes:\n  - {name: c, secret: {secretName: s, items: [{key: k, path: ../k}]}}", path: "spec.pod.volumes[0].secret.items[0].path", message: "must be a relative path"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumeMounts:\n  - {name: nope, mountPath: /x}", path: "spec.pod.volumeMounts[0].name", message: "'nope' is not a volume in spec.pod.volumes"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /conf}", path: "spec.pod.volumeMounts[0].mountPath", message: "runs into the operator's mount /conf"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /var/lib/zookeeper/data/extra}", path: "spec.pod.volumeMounts[0].mountPath", message: "runs into the operator's mount /var/lib/zookeeper"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /var}", path: "spec.pod.volumeMounts[0].mountPath", message: "runs into the operator's mount /var/lib/zookeeper"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /a/../tmp}", path: "spec.pod.volumeMounts[0].mountPath", message: "must be an absolute path below /"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /}", path: "spec.pod.volumeMounts[0].mountPath", message: "must be an absolute path below /"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  volumes: [{name: x, emptyDir: {}}]\n  volumeMounts:\n  - {name: x, mountPath: /a}\n  - {name: x, mountPath: /a}", path: "spec.pod.volumeMounts[1].mountPath", message: "is listed twice"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: A\n    value: x\n    valueFrom: {secretKeyRef: {name: s, key: k}}", path: "spec.pod.env[0].valueFrom", message: "takes the place of value"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: A\n    valueFrom: {}", path: "spec.pod.env[0].valueFrom", message: "takes exactly one of secretKeyRef and configMapKeyRef, got 0"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  env:\n  - name: A\n    valueFrom: {configMapKeyRef: {name: c, key: \"a/b\"}}", path: "spec.pod.env[0].valueFrom.configMapKeyRef.key", message: "is not a valid key"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  imagePullSecrets: [{name: Reg_Creds}]", path: "spec.pod.imagePullSecrets[0].name", message: "must be a DNS subdomain"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  serviceAccountName: \"zk sa\"", path: "spec.pod.serviceAccountName", message: "must be a DNS subdomain"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  lifecycle:\n    preStop:\n    - command: []", path: "spec.pod.lifecycle.preStop[0].command", message: "needs a program to run"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: zookeeper, image: busybox}", path: "spec.pod.sidecars[0].name", message: "is a container of the operator's"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: a, image: busybox}\n  - {name: a, image: busybox}", path: "spec.pod.sidecars[1].name", message: "is listed twice"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: a}", path: "spec.pod.sidecars[0].image", message: "is required"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: a, image: busybox, ports: [{containerPort: 2181}]}", path: "spec.pod.sidecars[0].ports[0].containerPort", message: "2181 is already the pod's 'client' port"),
        RuleCase(spec: "engine: Cassandra\npod:\n  sidecars:\n  - {name: a, image: busybox, volumeMounts: [{name: data, mountPath: /d}]}", path: "spec.pod.sidecars[0].volumeMounts[0].readOnly", message: "sidecars may read the members' data, never write it"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: a, image: busybox, volumeMounts: [{name: conf, mountPath: /c}]}", path: "spec.pod.sidecars[0].volumeMounts[0].name", message: "'conf' is not a volume in spec.pod.volumes"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  sidecars:\n  - {name: a, image: busybox, securityContext: {privileged: true}}", path: "spec.pod.sidecars[0].securityContext.privileged", message: "member pods run no privileged containers"),
        // Values that used to be sentinels are unset instead, and never mean root or "kill at once".
        RuleCase(spec: "engine: ZooKeeper\nsecurityContext:\n  runAsUser: 0", path: "spec.securityContext.runAsUser", message: "must be at least 1, got 0"),
        RuleCase(spec: "engine: ZooKeeper\npod:\n  terminationGracePeriodSeconds: 0", path: "spec.pod.terminationGracePeriodSeconds", message: "must be at least 1, got 0"),
        RuleCase(spec: "engine: ZooKeeper\nimage: \"\"", path: "spec.image", message: "must be an image reference without whitespace, got ''"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  clusterName: \"\"", path: "spec.cassandra.clusterName", message: "must not be empty (unset uses the Ensemble's name)"),
        // Metrics.
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  metrics:\n    port: 2181", path: "spec.zookeeper.metrics.port", message: "2181 is the client port"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  metrics:\n    port: 80", path: "spec.zookeeper.metrics.port", message: "must be at least 1024"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  metrics:\n    className: Prometheus", path: "spec.zookeeper.metrics.className", message: "fully qualified Java class name"),
        RuleCase(spec: "engine: ZooKeeper\nzookeeper:\n  config:\n    metricsProvider.httpPort: \"7001\"", path: "spec.zookeeper.config[metricsProvider.httpPort]", message: "is set through spec.zookeeper.metrics.port"),
        // Scheduling.
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  tolerations:\n  - operator: Exists\n    value: x", path: "spec.scheduling.tolerations[0].value", message: "must be empty when operator is Exists"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  tolerations:\n  - value: x", path: "spec.scheduling.tolerations[0].key", message: "is required when operator is Equal"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  tolerations:\n  - key: k\n    tolerationSeconds: 5", path: "spec.scheduling.tolerations[0].tolerationSeconds", message: "only applies to effect NoExecute"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  topologySpreadConstraints:\n  - topologyKey: zone\n    whenUnsatisfiable: DoNotSchedule", path: "spec.scheduling.topologySpreadConstraints[0].maxSkew", message: "is required"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  antiAffinityTopologyKey: \"bad key\"", path: "spec.scheduling.antiAffinityTopologyKey", message: "is not a valid node label key"),
        RuleCase(spec: "engine: ZooKeeper\nscheduling:\n  nodeAffinity: 5", path: "spec.scheduling.nodeAffinity", message: "must be an object or list"),
        // Probes.
        RuleCase(spec: "engine: ZooKeeper\nprobes:\n  readiness:\n    timeoutSeconds: 0", path: "spec.probes.readiness.timeoutSeconds", message: "must be at least 1"),
        RuleCase(spec: "engine: ZooKeeper\nprobes:\n  readiness:\n    timeoutSeconds: 20", path: "spec.probes.readiness.timeoutSeconds", message: "probes will overlap", severity: .warning),
        RuleCase(spec: "engine: ZooKeeper\nimage: \"zookeeper 3.9\"", path: "spec.image", message: "must be an image reference without whitespace"),
        RuleCase(spec: "engine: ZooKeeper\nupdateStrategy:\n  memberTimeoutSeconds: 5", path: "spec.updateStrategy.memberTimeoutSeconds", message: "must be at least 30"),
        RuleCase(spec: "engine: ZooKeeper\nupdateStrategy:\n  stepTimeoutSeconds: 5", path: "spec.updateStrategy.stepTimeoutSeconds", message: "must be at least 10"),
        RuleCase(spec: "engine: ZooKeeper\nupdateStrategy:\n  leaderHandOff: sometimes", path: "spec.updateStrategy.leaderHandOff", message: "must be true or false"),
        RuleCase(spec: "engine: Cassandra\ncassandra:\n  streamingTimeoutSeconds: 30", path: "spec.cassandra.streamingTimeoutSeconds", message: "must be at least 60"),
    ]

    @Test(arguments: cases)
    func ruleIsReportedWithItsPath(_ rule: RuleCase) throws {
        let found = try problems(resource(name: rule.name, rule.spec))
        let match = found.first { $0.path == rule.path && $0.message.contains(rule.message) }
        #expect(match != nil, "expected \(rule.path): \(rule.message); got \(found.map(\.description))")
        #expect(match?.severity == rule.severity)
        if rule.severity == .warning {
            #expect(!found.contains { $0.severity == .error }, "a warning case must stay valid: \(found)")
        }
    }

    @Test func everyProblemIsReportedAtOnceWithPositions() throws {
        let yaml = resource(name: "Bad_Name", """
            engine: ZooKeeper
            replicas: 12
            replica: 3
            resources:
              requests:
                memory: lots
            zookeeper:
              config:
                dataDir: /tmp
            """)
        let found = try problems(yaml)
        let paths = Set(found.filter { $0.severity == .error }.map(\.path))
        #expect(paths == ["metadata.name", "spec.replicas", "spec.replica", "spec.resources.requests.memory", "spec.zookeeper.config.dataDir"])
        let replicas = try #require(found.first { $0.path == "spec.replicas" })
        #expect(replicas.position == SourcePosition(line: 7, column: 13))
        #expect(replicas.description == "spec.replicas: must be between 1 and 9 for ZooKeeper, got 12")
    }

    @Test func wrongKindAndVersionAreReported() throws {
        let found = try problems("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nspec:\n  engine: ZooKeeper\n")
        #expect(found.contains { $0.path == "apiVersion" && $0.message.contains("must be ensemble.dev/v1alpha1") })
        #expect(found.contains { $0.path == "kind" && $0.message.contains("must be Ensemble, got 'ConfigMap'") })
    }

    @Test(arguments: [
        ("spec:\n  engine: [a\n", 3, 1),
        ("apiVersion: v1\n  kind: x\n", 2, 7),
        ("a: 1\na: 2\n", 2, 1),
        ("spec:\n  engine: ZooKeeper\n  replicas: 3\n  replicas: 5\n", 4, 3),
    ])
    func malformedYAMLGivesLineAndColumn(yaml: String, line: Int, column: Int) {
        do {
            _ = try ManifestLoader.loadDocuments(yaml: yaml, source: "bad.yaml")
            Issue.record("expected a load error")
        } catch {
            #expect(error.position?.line == line, "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:\(line):"), "\(error)")
        }
    }

    /// The smallest heap is accepted, in every spelling.
    @Test(arguments: ["4m", "4M", "4096k", "4194304", "0004m", "512m"])
    func smallestHeapIsValid(_ heap: String) throws {
        let found = try problems(resource(name: "zk", "engine: ZooKeeper\nzookeeper:\n  heapSize: \"\(heap)\""))
        #expect(found.filter { $0.severity == .error }.isEmpty, "\(heap): \(found)")
    }

    @Test func validExamplesHaveNoErrors() throws {
        for name in ["zookeeper-3.yaml", "zookeeper-5.yaml", "cassandra-3.yaml", "every-field.yaml"] {
            let documents = try ManifestLoader.loadDocuments(yaml: readRepoFile("examples/\(name)"), source: name)
            for document in documents {
                let report = Validator.validate(document: document)
                #expect(report.problems.isEmpty, "\(name): \(report.problems)")
            }
        }
    }
}
