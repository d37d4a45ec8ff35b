import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing

/// Raw watches and the watcher against the fake: resume from a resourceVersion, bookmarks,
/// a 410 Gone that forces a fresh list, dropped connections, selectors.
@Suite(.serialized, .timeLimit(.minutes(2))) struct WatchTests {
    @Test func rawWatchDeliversChangesAndBookmarks() async throws {
        try await withFakeAPIServer(.init(bookmarkInterval: 600)) { server in
            let client = try server.client()
            let list = try await client.list(.configMaps)
            let events = try await client.watch(.configMaps, options: WatchOptions(resourceVersion: list.resourceVersion))
            var iterator = events.makeAsyncIterator()
            let created = try await client.create(.configMaps, configMap("w", data: ["a": "1"]))
            #expect(try await iterator.next() == .added(created))
            let updated = try await client.patch(.configMaps, name: "w", patch: ["data": ["a": "2"]])
            #expect(try await iterator.next() == .modified(updated))
            try await server.sendBookmarks()
            guard case .bookmark(let version)? = try await iterator.next() else {
                Issue.record("expected a bookmark"); return
            }
            #expect(Int(version)! >= Int(updated.resourceVersion!)!)
            _ = try await client.delete(.configMaps, name: "w")
            guard case .deleted(let deleted)? = try await iterator.next() else {
                Issue.record("expected a deletion"); return
            }
            #expect(deleted.name == "w")
        }
    }

    @Test func watchFromACompactedVersionEndsWith410() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let list = try await client.list(.configMaps)
            _ = try await client.create(.configMaps, configMap("a"))
            try await server.compact()
            let events = try await client.watch(.configMaps, options: WatchOptions(resourceVersion: list.resourceVersion))
            var iterator = events.makeAsyncIterator()
            let error = await failure { try await iterator.next() } as? KubernetesError
            #expect(error?.isGone == true)
            #expect(error?.status?.reason == "Expired")
        }
    }

    @Test func watchSelectorsTurnMovesIntoAddsAndDeletes() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let events = try await client.watch(.configMaps, options: WatchOptions(labelSelector: LabelSelector([.equals("app", "zk")])))
            var iterator = events.makeAsyncIterator()
            _ = try await client.create(.configMaps, configMap("other", labels: ["app": "x"]))
            _ = try await client.patch(.configMaps, name: "other", patch: ["metadata": ["labels": ["app": "zk"]]])
            guard case .added(let moved)? = try await iterator.next() else {
                Issue.record("entering the selector is an addition for this watch"); return
            }
            #expect(moved.name == "other")
            #expect(moved.labels == ["app": "zk"])
            _ = try await client.patch(.configMaps, name: "other", patch: ["metadata": ["labels": ["app": "y"]]])
            guard case .deleted(let gone)? = try await iterator.next() else {
                Issue.record("leaving the selector is a deletion for this watch"); return
            }
            #expect(gone.name == "other")
        }
    }

    @Test func watchOfAMissingResourceThrowsWhenOpened() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let unknown = ResourceType(group: "example.com", version: "v1", plural: "widgets", kind: "Widget")
            let error = await failure { try await client.watch(unknown) } as? KubernetesError
            #expect(error?.isNotFound == true)
        }
    }

    @Test func watcherRelistsAfter410AndResumesAfterDroppedConnections() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            _ = try await client.create(.configMaps, configMap("first"))
            let errors = ErrorLog()
            let watcher = client.watcher(.configMaps, options: WatcherOptions(
                pageSize: 2, backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)),
                onError: { errors.append($0) }))
            var iterator = watcher.makeAsyncIterator()
            #expect(await iterator.next() == .listed([try await client.get(.configMaps, name: "first")]))

            let second = try await client.create(.configMaps, configMap("second"))
            #expect(await iterator.next() == .applied(second))

            // A dropped connection: the watcher resumes from the last version, missing nothing.
            try await server.dropWatches()
            let third = try await client.create(.configMaps, configMap("third"))
            #expect(await iterator.next() == .applied(third))

            // History compacted while disconnected: 410 on resume, then a fresh full list
            // (which no longer has the object deleted meanwhile). The watcher reconnects
            // only when asked for its next event, so these changes happen while it is away.
            try await server.dropWatches()
            _ = try await client.delete(.configMaps, name: "first")
            _ = try await client.create(.configMaps, configMap("fourth"))
            try await server.compact()
            guard case .listed(let objects)? = await iterator.next() else {
                Issue.record("expected a fresh listing after 410"); return
            }
            #expect(objects.compactMap(\.name) == ["fourth", "second", "third"])
            #expect(errors.items.contains { ($0 as? KubernetesError)?.isGone == true })

            // Transient failures back off and retry.
            try await server.inject(.init(verb: "watch", resource: "configmaps", code: 500, times: 2))
            try await server.dropWatches()
            let fifth = try await client.create(.configMaps, configMap("fifth"))
            #expect(await iterator.next() == .applied(fifth))
            #expect(errors.items.contains { ($0 as? KubernetesError)?.status?.code == 500 })
        }
    }

    @Test func watcherStopsWhenItsTaskIsCancelled() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let task = Task {
                var count = 0
                for await _ in client.watcher(.configMaps) { count += 1 }
                return count
            }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let started = ContinuousClock.now
            #expect(await task.value >= 1)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}

final class ErrorLog: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func append(_ error: Error) { lock.withLock { errors.append(error) } }
    var items: [Error] { lock.withLock { errors } }
}
