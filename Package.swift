// swift-tools-version: 6.1
import PackageDescription

// Dependencies are kept to two small, pure-Swift/C packages: every one is rebuilt
// from scratch by CI on 2 cores. The probe links neither (see its target).
let package = Package(
    name: "ensemble-operator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ensemble-operator", targets: ["EnsembleOperator"]),
        .executable(name: "ensemble-probe", targets: ["Probes"]),
        .executable(name: "zkctl", targets: ["zkctl"]),
        .library(name: "EnsembleCore", targets: ["EnsembleCore"]),
        .library(name: "ZKConfig", targets: ["ZKConfig"]),
        .library(name: "LocalEnsemble", targets: ["LocalEnsemble"]),
        .library(name: "KubernetesClient", targets: ["KubernetesClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // zoo.cfg / myid generation: pure, no dependencies.
        .target(name: "ZKConfig"),
        // The pure core: API types, schema/CRD, validation, rendering. No I/O.
        .target(
            name: "EnsembleCore",
            dependencies: ["ZKConfig", .product(name: "Yams", package: "Yams")]
        ),
        // Blocking TCP with hard deadlines on POSIX sockets; shared by the probe and clients.
        .target(name: "NetCore"),
        // Four-letter-word client and reply parsers: shared by the probe, zkctl and local mode.
        .target(name: "ZKAdmin", dependencies: ["NetCore"]),
        // Native ZooKeeper client (jute wire protocol); shared by zkctl and the operator.
        .target(name: "ZooKeeperClient", dependencies: ["NetCore"]),
        // libcurl (HTTP/1.1 and HTTP/2 over TLS) for the Kubernetes client: one of the two
        // system libraries the design allows.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Kubernetes API client: kubeconfig/in-cluster credentials, typed verbs, watches.
        .target(name: "KubernetesClient", dependencies: ["CCurl", "EnsembleCore"], exclude: ["README.md"]),
        // Test-only: the fake API server (scripts/fakeapi) started from Swift tests.
        .target(name: "KubernetesTestSupport", dependencies: ["KubernetesClient", "EnsembleCore", "ZooKeeperTestSupport", "LocalEnsemble"]),
        // Observing members for the planners, reconfigs as the super user, the continuous
        // writer and monitor that measure a roll: shared by local mode and the operator.
        .target(name: "ZooKeeperOps", dependencies: ["EnsembleCore", "ZKConfig", "ZKAdmin", "NetCore", "ZooKeeperClient"]),
        // Real ZooKeeper processes on this machine: local mode and the integration tests.
        .target(name: "LocalEnsemble", dependencies: ["ZKConfig", "NetCore", "ZKAdmin"]),
        // Test-only helpers (ensembles on private loopback blocks); only test targets depend on it.
        .target(name: "ZooKeeperTestSupport", dependencies: ["LocalEnsemble", "ZKConfig", "NetCore", "ZKAdmin"]),
        // The probe runs inside member pods: Glibc + NetCore only, no Foundation, no NIO
        // (ZKAdmin and ZKConfig are pure Swift on top of those).
        .executableTarget(
            name: "Probes",
            dependencies: ["NetCore", "ZKAdmin", "ZKConfig"],
            swiftSettings: [.unsafeFlags(["-Osize"], .when(configuration: .release))]
        ),
        // The controller runtime: caches, watchers, work queue, leader election, metrics and the
        // health server. I/O shell, generic over resources; the decisions live in EnsembleCore.
        .target(name: "ControllerRuntime", dependencies: ["EnsembleCore", "NetCore", "KubernetesClient"]),
        .executableTarget(
            name: "EnsembleOperator",
            dependencies: ["EnsembleCore", "ControllerRuntime", "KubernetesClient", "NetCore", "ZKAdmin", "ZKConfig", "ZooKeeperOps",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "zkctl",
            dependencies: ["EnsembleCore", "ZKConfig", "NetCore", "ZKAdmin", "LocalEnsemble", "ZooKeeperClient", "ZooKeeperOps", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KubernetesClientTests", dependencies: ["KubernetesClient", "KubernetesTestSupport", "EnsembleCore", "ZooKeeperTestSupport"]),
        .testTarget(name: "ZKConfigTests", dependencies: ["ZKConfig"]),
        // The real ensemble-operator binary against the fake API server (and a real one with
        // ENSEMBLE_TEST_KUBECONFIG), with real ZooKeeper members on 127.x.y.z.
        .testTarget(name: "OperatorE2ETests", dependencies: ["EnsembleCore", "KubernetesClient", "KubernetesTestSupport", "NetCore", "ZooKeeperTestSupport", "ZooKeeperOps"]),
        .testTarget(name: "ControllerRuntimeTests", dependencies: ["ControllerRuntime", "EnsembleCore", "NetCore", "KubernetesClient"]),
        .testTarget(name: "EnsembleCoreTests", dependencies: ["EnsembleCore", "ZKConfig"], exclude: ["Golden"]),
        .testTarget(name: "NetCoreTests", dependencies: ["NetCore"]),
        .testTarget(name: "ZooKeeperClientTests", dependencies: ["ZooKeeperClient", "NetCore", "ZooKeeperTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["EnsembleCore", "ZKConfig", "NetCore", "ZKAdmin", "LocalEnsemble", "ZooKeeperTestSupport", "ZooKeeperClient", "ZooKeeperOps"]
        ),
        // Probe, ZKAdmin and zkctl health: parsers, misbehaving peers, the built binaries, real ZooKeeper.
        .testTarget(name: "ProbeTests", dependencies: ["ZKAdmin", "NetCore", "ZKConfig", "ZooKeeperTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
