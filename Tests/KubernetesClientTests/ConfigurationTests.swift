import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing
import ZooKeeperTestSupport

/// Kubeconfig and in-cluster configuration: contexts, merging, refusals that name the file
/// and field, and secrets that never print.
@Suite final class ConfigurationTests {
    let directory: URL
    let caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    init() throws {
        directory = try temporaryDirectory("kubeconfig")
        try caPEM.write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
    }

    deinit {
        do {
            try FileManager.default.removeItem(at: directory)
        } catch {
            Issue.record("could not remove \(directory.path): \(error)")
        }
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var twoContexts: String {
        """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev-cluster
          cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt}
        - name: prod-cluster
          cluster: {server: "https://127.0.0.2:6443", certificate-authority-data: \(Data(caPEM.utf8).base64EncodedString())}
        contexts:
        - name: dev
          context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
        - name: prod
          context: {cluster: prod-cluster, user: exec-user}
        users:
        - name: dev-user
          user: {token: secret-token-value}
        - name: exec-user
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1beta1
              command: ./bin/get-token
              args: [--cluster, prod]
              env: [{name: REGION, value: eu}]
              provideClusterInfo: true
        """
    }

    @Test func currentContextOrTheGivenOne() throws {
        let path = try write("config", twoContexts)
        let dev = try ClientConfiguration.fromKubeconfig(path: path)
        #expect(dev.server == "https://127.0.0.1:6443")
        #expect(dev.namespace == "team-a")
        #expect(dev.certificateAuthority == .file(directory.appendingPathComponent("ca.crt").path))
        #expect(dev.credentials.token == .value("secret-token-value"))

        let prod = try ClientConfiguration.fromKubeconfig(path: path, context: "prod")
        #expect(prod.server == "https://127.0.0.2:6443")
        #expect(prod.namespace == "default")
        #expect(prod.certificateAuthority == .data(Array(caPEM.utf8)))
        let exec = try #require(prod.credentials.exec)
        #expect(exec.command == directory.appendingPathComponent("bin/get-token").path)
        #expect(exec.arguments == ["--cluster", "prod"])
        #expect(exec.environment == ["REGION": "eu"])
        #expect(exec.apiVersion == "client.authentication.k8s.io/v1beta1")
        #expect(exec.provideClusterInfo)
    }

    @Test func kubeconfigVariableMergesFilesFirstDefinitionWins() throws {
        let first = try write("first", """
            current-context: mine
            contexts: [{name: mine, context: {cluster: shared, user: me}}]
            users: [{name: me, user: {tokenFile: token}}]
            """)
        let second = try write("second", twoContexts.replacingOccurrences(of: "dev-cluster", with: "shared"))
        let configuration = try ClientConfiguration.load(environment: ["KUBECONFIG": "\(first):\(second)", "HOME": "/nonexistent"])
        #expect(configuration.server == "https://127.0.0.1:6443")
        #expect(configuration.credentials.token == .file(directory.appendingPathComponent("token").path))
    }

    @Test(arguments: [
        ("context: [missing]", "context \"nope\"", "nope"),
        ("server: \"http://127.0.0.1:8080\"", "not https", nil),
        ("insecure-skip-tls-verify: true", "insecure-skip-tls-verify", nil),
        ("certificate-authority: missing.crt", "missing.crt: dev-cluster", nil),
        ("certificate-authority-data: bm90IGEgY2VydA==", "not PEM data", nil),
        ("user: {username: a, password: b}", "uses username", nil),
        ("user: {client-certificate: ca.crt}", "without a key", nil),
    ] as [(String, String, String?)])
    func unusableConfigurationsNameTheProblem(change: String, expected: String, context: String?) throws {
        var text = twoContexts
        switch change {
        case let c where c.hasPrefix("server"): text = text.replacingOccurrences(of: "server: \"https://127.0.0.1:6443\"", with: c)
        case let c where c.hasPrefix("insecure"): text = text.replacingOccurrences(of: "certificate-authority: ca.crt", with: "\(c), certificate-authority: ca.crt")
        case let c where c.hasPrefix("certificate-authority"): text = text.replacingOccurrences(of: "certificate-authority: ca.crt", with: c)
        case let c where c.hasPrefix("user:"): text = text.replacingOccurrences(of: "user: {token: secret-token-value}", with: c)
        default: break
        }
        let path = try write("config-\(abs(change.hashValue))", text)
        do {
            _ = try ClientConfiguration.fromKubeconfig(path: path, context: context)
            Issue.record("expected a configuration error for \(change)")
        } catch {
            guard case .configuration(let message) = error else { Issue.record("\(error)"); return }
            let expectedText = expected == "missing.crt: dev-cluster" ? directory.appendingPathComponent("missing.crt").path : expected
            #expect(message.contains(expectedText), "\(message)")
        }
    }

    @Test func secretsNeverPrint() throws {
        let configuration = try ClientConfiguration.fromKubeconfig(path: try write("config", twoContexts))
        var credentials = configuration.credentials
        credentials.clientKey = .data(Array("-----BEGIN EC PRIVATE KEY-----\nKEYBYTES\n-----END EC PRIVATE KEY-----".utf8))
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in [String(describing: configuration), String(reflecting: configuration), "\(credentials)", dumped] {
            #expect(!text.contains("secret-token-value"), "\(text)")
            #expect(!text.contains("KEYBYTES"), "\(text)")
        }
    }

    @Test func inClusterNeedsItsCAAndToken() throws {
        let environment = ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"]
        let serviceAccount = directory.appendingPathComponent("sa")
        try FileManager.default.createDirectory(at: serviceAccount, withIntermediateDirectories: true)
        let missingCA = #expect(throws: KubernetesError.self) {
            try ClientConfiguration.inCluster(directory: serviceAccount.path, environment: environment)
        }
        #expect(missingCA?.description.contains("ca.crt") == true)
        try caPEM.write(to: serviceAccount.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        #expect(throws: KubernetesError.self) { try ClientConfiguration.inCluster(directory: serviceAccount.path, environment: environment) }
        try "tok\n".write(to: serviceAccount.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "ensembles\n".write(to: serviceAccount.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let configuration = try ClientConfiguration.inCluster(directory: serviceAccount.path, environment: environment)
        #expect(configuration.server == "https://127.0.0.1:6443")
        #expect(configuration.namespace == "ensembles")
        #expect(configuration.credentials.token == .file(serviceAccount.appendingPathComponent("token").path))
        #expect(throws: KubernetesError.self) { try ClientConfiguration.inCluster(directory: serviceAccount.path, environment: [:]) }
    }

    @Test(.timeLimit(.minutes(1))) func inClusterAgainstTheFakeFollowsTokenRotation() async throws {
        try await withFakeAPIServer { server in
            let serviceAccount = server.directory.appendingPathComponent("serviceaccount")
            try FileManager.default.createDirectory(at: serviceAccount, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: server.caPath, toPath: serviceAccount.appendingPathComponent("ca.crt").path)
            try FileManager.default.copyItem(atPath: server.tokenPath, toPath: serviceAccount.appendingPathComponent("token").path)
            let client = try KubernetesClient(ClientConfiguration.inCluster(
                directory: serviceAccount.path,
                environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(server.port)]))
            _ = try await client.create(.configMaps, configMap("one"))
            // kubelet rotates the projected token by an atomic rename.
            try await server.setTokens(["rotated"])
            try "rotated".write(to: serviceAccount.appendingPathComponent("token"), atomically: true, encoding: .utf8)
            _ = try await client.create(.configMaps, configMap("two"))
            #expect(try await client.list(.configMaps).items.count == 2)
        }
    }
}
