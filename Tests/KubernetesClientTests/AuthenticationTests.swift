import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing

/// The client against the fake API server over HTTPS, one way of proving identity per test.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AuthenticationTests {
    @Test func clientCertificateAndCAAsInlineData() async throws {
        try await withFakeAPIServer { server in
            let client = try KubernetesClient(ClientConfiguration.fromKubeconfig(path: server.kubeconfigPath))
            guard case .data = client.configuration.credentials.clientCertificate else {
                Issue.record("expected inline certificate data"); return
            }
            let created = try await client.create(.configMaps, configMap("inline", data: ["a": "1"]))
            #expect(created.name == "inline")
            #expect(try await client.get(.configMaps, name: "inline").value["data"]?["a"] == "1")
        }
    }

    @Test func clientCertificateAndCAAsFilesRelativeToTheKubeconfig() async throws {
        try await withFakeAPIServer { server in
            let path = server.directory.appendingPathComponent("kubeconfig-files").path
            let configuration = try ClientConfiguration.fromKubeconfig(path: path)
            #expect(configuration.certificateAuthority == .file(server.caPath))
            let client = try KubernetesClient(configuration)
            _ = try await client.create(.configMaps, configMap("files"))
            #expect(try await client.list(.configMaps).items.map(\.name) == ["files"])
        }
    }

    @Test func withoutCredentialsTheServerSays401WithItsStatus() async throws {
        try await withFakeAPIServer { server in
            var configuration = try server.configuration()
            configuration.credentials = Credentials()
            let client = try KubernetesClient(configuration)
            let error = await failure { try await client.get(.configMaps, name: "x") } as? KubernetesError
            #expect(error?.isUnauthorized == true)
            #expect(error?.status?.reason == "Unauthorized")
        }
    }

    @Test func tokenFileIsReReadWhenItRotates() async throws {
        try await withFakeAPIServer { server in
            let counter = RequestCounter()
            let client = try KubernetesClient(ClientConfiguration.fromKubeconfig(path: server.tokenKubeconfigPath), observer: counter)
            #expect(client.configuration.credentials.token == .file(server.tokenPath))
            _ = try await client.create(.configMaps, configMap("before"))
            // Rotate: the server accepts only the new token, the file holds it.
            try await server.setTokens(["rotated-token-2"])
            try "rotated-token-2\n".write(toFile: server.tokenPath, atomically: true, encoding: .utf8)
            _ = try await client.create(.configMaps, configMap("after"))
            #expect(counter.count(verb: "create", code: 401) == 0, "the changed file is read before the request, not after a 401")
            // A token revoked without a new file: 401 after one retry, with the server's reason.
            try await server.setTokens(["something-else"])
            let error = await failure { try await client.get(.configMaps, name: "after") } as? KubernetesError
            #expect(error?.isUnauthorized == true)
            #expect(counter.count(verb: "get", code: 401) == 2, "one retry after re-reading the token file")
        }
    }

    @Test func execPluginCredentialIsCachedUntilItExpires() async throws {
        try await withFakeAPIServer { server in
            let directory = server.directory
            let runs = directory.appendingPathComponent("plugin-runs").path
            func plugin(_ name: String, expiresIn seconds: Int) throws -> String {
                let expiry = ISO8601DateFormatter().string(from: Date().addingTimeInterval(Double(seconds)))
                let path = directory.appendingPathComponent(name).path
                let script = """
                    #!/bin/sh
                    echo run >> '\(runs)'
                    case "$KUBERNETES_EXEC_INFO" in *'"server":"\(server.server)"'*) ;; *) echo "no cluster info: $KUBERNETES_EXEC_INFO" >&2; exit 3;; esac
                    printf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token","expirationTimestamp":"\(expiry)"}}'
                    """
                try script.write(toFile: path, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
                return path
            }
            func runCount() -> Int {
                ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
            }
            try await server.setTokens(["exec-token"])
            var configuration = try server.configuration()
            configuration.credentials = Credentials(exec: ExecConfig(command: try plugin("long.sh", expiresIn: 3600), provideClusterInfo: true))
            let client = try KubernetesClient(configuration)
            // Concurrent first requests share one run of the plugin.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<4 {
                    group.addTask { _ = try await client.create(.configMaps, configMap("exec-\(index)")) }
                }
                try await group.waitForAll()
            }
            _ = try await client.list(.configMaps)
            #expect(runCount() == 1)

            // A credential about to expire is fetched again for every request.
            try FileManager.default.removeItem(atPath: runs)
            configuration.credentials = Credentials(exec: ExecConfig(command: try plugin("short.sh", expiresIn: 2), provideClusterInfo: true))
            let shortLived = try KubernetesClient(configuration)
            _ = try await shortLived.get(.configMaps, name: "exec-0")
            _ = try await shortLived.get(.configMaps, name: "exec-1")
            #expect(runCount() == 2)
        }
    }

    @Test func failingExecPluginIsACredentialsErrorWithItsStderr() async throws {
        try await withFakeAPIServer { server in
            let path = server.directory.appendingPathComponent("broken.sh").path
            try "#!/bin/sh\necho 'login required' >&2\nexit 7\n".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            var configuration = try server.configuration()
            configuration.credentials = Credentials(exec: ExecConfig(command: path))
            let error = await failure { try await KubernetesClient(configuration).get(.configMaps, name: "x") }
            guard case .credentials(let message)? = error as? KubernetesError else {
                Issue.record("expected a credentials error, got \(String(describing: error))"); return
            }
            #expect(message.contains("exited with status 7"))
            #expect(message.contains("login required"))
        }
    }

    @Test func aCAThatDidNotSignTheServerIsATLSErrorNeverAFallback() async throws {
        try await withFakeAPIServer { server in
            var configuration = try server.configuration()
            configuration.certificateAuthority = .file(server.directory.appendingPathComponent("wrong-ca.crt").path)
            let client = try KubernetesClient(configuration)
            let error = await failure { try await client.get(.configMaps, name: "x") }
            guard case .transport(_, _, let code, let message)? = error as? KubernetesError else {
                Issue.record("expected a transport error, got \(String(describing: error))"); return
            }
            #expect(code == 60, "CURLE_PEER_FAILED_VERIFICATION: \(message)")
            // Inline data of the wrong CA fails the same way.
            let bytes = try Array(Data(contentsOf: server.directory.appendingPathComponent("wrong-ca.crt")))
            configuration.certificateAuthority = .data(bytes)
            let inline = await failure { try await KubernetesClient(configuration).get(.configMaps, name: "x") }
            guard case .transport(_, _, 60, _)? = inline as? KubernetesError else {
                Issue.record("expected a verification failure, got \(String(describing: inline))"); return
            }
        }
    }

    @Test func missingOrMalformedCAIsAConfigurationError() async throws {
        var configuration = ClientConfiguration(server: "https://127.0.0.1:1", certificateAuthority: .file("/nonexistent/ca.crt"))
        let missing = await failure { try KubernetesClient(configuration) }
        guard case .configuration(let text)? = missing as? KubernetesError else {
            Issue.record("expected a configuration error, got \(String(describing: missing))"); return
        }
        #expect(text.contains("/nonexistent/ca.crt"))
        configuration.certificateAuthority = .data(Array("not a certificate".utf8))
        guard case .configuration? = await failure({ try KubernetesClient(configuration) }) as? KubernetesError else {
            Issue.record("non-PEM CA data must be refused"); return
        }
    }
}
