import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing

/// Waits until `condition` holds, polling every 20 ms; fails the test after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
    throw TimedOut(what: what)
}

struct TimedOut: Error { var what: String }

/// The error a call threw, or nil.
func failure<T>(_ body: () async throws -> T) async -> Error? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}

func configMap(_ name: String, labels: [String: String] = [:], data: [String: String] = [:]) -> Value {
    ["apiVersion": "v1", "kind": "ConfigMap",
     "metadata": ["name": .string(name), "labels": .sortedMap(labels)],
     "data": .sortedMap(data)]
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
