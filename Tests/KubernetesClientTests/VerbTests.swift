import EnsembleCore
import Foundation
import KubernetesClient
import KubernetesTestSupport
import Testing

/// The typed verbs against the fake: errors with the server's Status, pagination, apply,
/// status, deletion, events, deadlines, cancellation and metrics.
@Suite(.serialized, .timeLimit(.minutes(2))) struct VerbTests {
    @Test func errorsCarryTheServersStatusReasonCodeAndMessage() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let missing = await failure { try await client.get(.configMaps, name: "absent") } as? KubernetesError
            #expect(missing?.isNotFound == true)
            #expect(missing?.status?.message == "configmaps \"absent\" not found")

            let first = try await client.create(.configMaps, configMap("cm", data: ["k": "1"]))
            let duplicate = await failure { try await client.create(.configMaps, configMap("cm")) } as? KubernetesError
            #expect(duplicate?.isAlreadyExists == true)
            #expect(duplicate?.status?.code == 409)

            // A write based on a stale read is a 409 Conflict, not a lost update.
            var changed = first.value
            changed["data"] = ["k": "2"]
            _ = try await client.replace(.configMaps, changed)
            changed["data"] = ["k": "3"]
            let stale = await failure { try await client.replace(.configMaps, changed) } as? KubernetesError
            #expect(stale?.isConflict == true)
            #expect(stale?.status?.reason == "Conflict")
            #expect(stale?.status?.message.contains("the object has been modified") == true)
            #expect(try await client.get(.configMaps, name: "cm").value["data"]?["k"] == "2")
        }
    }

    @Test func listsPageWithContinueTokensAndFilterByLabels() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            for index in 0..<7 {
                _ = try await client.create(.configMaps, configMap("cm-\(index)", labels: ["app": index < 5 ? "zk" : "other", "tier": "\(index % 2)"]))
            }
            var pages: [[String]] = []
            var options = ListOptions(limit: 3)
            while true {
                let page = try await client.list(.configMaps, options: options)
                pages.append(page.items.compactMap(\.name))
                guard let token = page.continueToken else { break }
                options.continueToken = token
            }
            #expect(pages == [["cm-0", "cm-1", "cm-2"], ["cm-3", "cm-4", "cm-5"], ["cm-6"]])
            let all = try await client.listAll(.configMaps, options: ListOptions(limit: 2))
            #expect(all.items.count == 7)
            #expect(all.items.allSatisfy { $0.kind == "ConfigMap" && $0.apiVersion == "v1" })

            let selected = try await client.list(.configMaps, options: ListOptions(labelSelector: LabelSelector([.equals("app", "zk"), .notIn("tier", ["1"])])))
            #expect(selected.items.compactMap(\.name) == ["cm-0", "cm-2", "cm-4"])
            let byField = try await client.list(.configMaps, options: ListOptions(fieldSelector: "metadata.name=cm-6"))
            #expect(byField.items.compactMap(\.name) == ["cm-6"])
            // A continue token from before a compaction is 410 Gone.
            let page = try await client.list(.configMaps, options: ListOptions(limit: 2))
            try await server.compact()
            let expired = await failure {
                try await client.list(.configMaps, options: ListOptions(limit: 2, continueToken: page.continueToken))
            } as? KubernetesError
            #expect(expired?.isGone == true)
        }
    }

    @Test func serverSideApplyOwnsFieldsAndConflictsUnlessForced() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let desired: Value = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "owned"], "data": ["a": "1", "b": "2"]]
            let applied = try await client.apply(.configMaps, desired)
            #expect(applied.value["data"] == ["a": "1", "b": "2"])
            let managers = applied.metadata?["managedFields"]?.arrayValue?.compactMap { $0["manager"]?.stringValue }
            #expect(managers == ["ensemble-operator"])

            // Another manager changing a field we own: 409 Conflict naming the owner.
            let other = ApplyOptions(fieldManager: "someone-else")
            let conflict = await failure {
                try await client.apply(.configMaps, ["metadata": ["name": "owned"], "data": ["a": "9"]], options: other)
            } as? KubernetesError
            #expect(conflict?.isConflict == true)
            #expect(conflict?.status?.message.contains("ensemble-operator") == true)
            // Forced, it takes the field over.
            var forced = other
            forced.force = true
            let taken = try await client.apply(.configMaps, ["metadata": ["name": "owned"], "data": ["a": "9"]], options: forced)
            #expect(taken.value["data"] == ["a": "9", "b": "2"])
            // We stop applying b: it goes; a is someone-else's now and stays.
            let shrunk = try await client.apply(.configMaps, ["metadata": ["name": "owned"], "data": [:]])
            #expect(shrunk.value["data"] == ["a": "9"])
            // Applying the same again changes nothing, not even the resourceVersion.
            let again = try await client.apply(.configMaps, ["metadata": ["name": "owned"], "data": [:]])
            #expect(again.resourceVersion == shrunk.resourceVersion)
        }
    }

    @Test func generationFollowsSpecOnlyAndStatusGoesThroughItsSubresource() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let created = try await client.apply(.ensembles, ["metadata": ["name": "zk"], "spec": ["engine": "ZooKeeper"]])
            #expect(created.generation == 1)
            #expect(created.spec?["replicas"] == 3, "the CRD's default")
            let status = try await client.apply(.ensembles, ["metadata": ["name": "zk"], "status": ["phase": "Running", "readyReplicas": 3]],
                                                subresource: "status")
            #expect(status.status?["phase"] == "Running")
            #expect(status.generation == 1)
            // Status sent to the main resource is ignored.
            let patched = try await client.patch(.ensembles, name: "zk", patch: ["status": ["phase": "Broken"], "metadata": ["labels": ["a": "b"]]])
            #expect(patched.status?["phase"] == "Running")
            #expect(patched.generation == 1, "labels are metadata")
            let scaled = try await client.apply(.ensembles, ["metadata": ["name": "zk"], "spec": ["engine": "ZooKeeper", "replicas": 5]])
            #expect(scaled.generation == 2)
            let merged = try await client.patchStatus(.ensembles, name: "zk", patch: ["status": ["observedGeneration": 2]])
            #expect(merged.status?["observedGeneration"] == 2)
            #expect(merged.status?["phase"] == "Running")
            // The schema is enforced: 422 with the field.
            let invalid = await failure {
                try await client.apply(.ensembles, ["metadata": ["name": "zk"], "spec": ["engine": "ZooKeeper", "replicas": 500]])
            } as? KubernetesError
            #expect(invalid?.isInvalid == true)
            #expect(invalid?.status?.message.contains("spec.replicas") == true)
        }
    }

    @Test func deleteHonoursPreconditionsFinalizersAndOwnerReferences() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let owner = try await client.create(.configMaps, configMap("owner"))
            var dependent = configMap("dependent")
            dependent["metadata"]?["ownerReferences"] = [OwnerReference(controllerOf: owner)!.value]
            _ = try await client.create(.configMaps, dependent)

            let wrongUID = await failure {
                try await client.delete(.configMaps, name: "owner", options: DeleteOptions(preconditionUID: "not-the-uid"))
            } as? KubernetesError
            #expect(wrongUID?.isConflict == true)
            #expect(try await client.delete(.configMaps, name: "owner", options: DeleteOptions(preconditionUID: owner.uid)) == .deleted)
            try await eventually("the dependent to be garbage-collected") {
                (await failure { try await client.get(.configMaps, name: "dependent") } as? KubernetesError)?.isNotFound == true
            }

            var held = configMap("held")
            held["metadata"]?["finalizers"] = ["ensemble.dev/cleanup"]
            _ = try await client.create(.configMaps, held)
            guard case .pending(let pending) = try await client.delete(.configMaps, name: "held") else {
                Issue.record("a finalizer must hold the object"); return
            }
            #expect(pending.isBeingDeleted)
            // Removing the finalizer with a JSON patch that tests it first lets it go.
            _ = try await client.patch(.configMaps, name: "held",
                                       patch: [["op": "test", "path": "/metadata/finalizers/0", "value": "ensemble.dev/cleanup"],
                                               ["op": "remove", "path": "/metadata/finalizers/0"]], patchType: .json)
            let gone = await failure { try await client.get(.configMaps, name: "held") } as? KubernetesError
            #expect(gone?.isNotFound == true)
        }
    }

    @Test func foregroundDeletionWaitsForDependents() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let owner = try await client.create(.configMaps, configMap("owner"))
            var dependent = configMap("blocker")
            dependent["metadata"]?["ownerReferences"] = [OwnerReference(controllerOf: owner)!.value]
            dependent["metadata"]?["finalizers"] = ["test/hold"]
            _ = try await client.create(.configMaps, dependent)
            guard case .pending = try await client.delete(.configMaps, name: "owner", options: DeleteOptions(propagationPolicy: .foreground)) else {
                Issue.record("foreground deletion keeps the owner until its dependents are gone"); return
            }
            try await eventually("the dependent to be marked for deletion") {
                try await client.get(.configMaps, name: "blocker").isBeingDeleted
            }
            #expect(try await client.get(.configMaps, name: "owner").finalizers == ["foregroundDeletion"])
            _ = try await client.patch(.configMaps, name: "blocker", patch: ["metadata": ["finalizers": nil]])
            try await eventually("the owner to go once its dependent went") {
                (await failure { try await client.get(.configMaps, name: "owner") } as? KubernetesError)?.isNotFound == true
            }
        }
    }

    @Test func eventsAreRecordedInEventsV1() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            let ensemble = try await client.apply(.ensembles, ["metadata": ["name": "zk"], "spec": ["engine": "ZooKeeper"]])
            let event = try await client.recordEvent(EventRecord(regarding: ensemble, type: .warning, reason: "InvalidSpec",
                                                                 action: "Reconcile", note: "spec.replicas must be odd",
                                                                 reportingInstance: "operator-0"))
            #expect(event.apiVersion == "events.k8s.io/v1")
            let listed = try await client.list(.events).items
            #expect(listed.count == 1)
            #expect(listed.first?.value["regarding"]?["uid"]?.stringValue == ensemble.uid)
            #expect(listed.first?.value["reason"] == "InvalidSpec")
            #expect(listed.first?.value["eventTime"]?.stringValue?.count == 27, "MicroTime: \(String(describing: listed.first?.value["eventTime"]))")
        }
    }

    @Test func everyRequestHasADeadline() async throws {
        try await withFakeAPIServer { server in
            var configuration = try server.configuration()
            configuration.requestTimeout = .milliseconds(500)
            let counter = RequestCounter()
            let client = try KubernetesClient(configuration, observer: counter)
            try await server.inject(.init(verb: "get", resource: "configmaps", delaySeconds: 20, times: 1))
            let started = ContinuousClock.now
            let error = await failure { try await client.get(.configMaps, name: "slow") }
            guard case .deadlineExceeded(_, _, let seconds)? = error as? KubernetesError else {
                Issue.record("expected a deadline error, got \(String(describing: error))"); return
            }
            #expect(seconds == 0.5)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(counter.count(verb: "get") == 1)
            #expect(counter.snapshot()[RequestCounter.Key(verb: "get", code: "<error>")] == 1)
            // The per-call timeout overrides the configuration's.
            try await server.inject(.init(verb: "list", resource: "configmaps", delaySeconds: 1, times: 1))
            _ = try await client.list(.configMaps, timeout: .seconds(15))
        }
    }

    @Test func cancellingTheTaskAbortsTheRequest() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            try await server.inject(.init(verb: "get", resource: "configmaps", delaySeconds: 20, times: 1))
            let started = ContinuousClock.now
            let task = Task { try await client.get(.configMaps, name: "stalled") }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            let result = await task.result
            guard case .failure(let error) = result, error is CancellationError else {
                Issue.record("expected CancellationError, got \(result)"); return
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            // The client still works afterwards.
            _ = try await client.create(.configMaps, configMap("after-cancel"))
        }
    }

    @Test func injectedServerErrorsAreTransientWithTheirStatus() async throws {
        try await withFakeAPIServer { server in
            let counter = RequestCounter()
            let client = try server.client(observer: counter)
            try await server.inject(.init(verb: "create", resource: "configmaps", code: 500, message: "etcdserver: leader changed", times: 1))
            let error = await failure { try await client.create(.configMaps, configMap("x")) } as? KubernetesError
            #expect(error?.isTransient == true)
            #expect(error?.status?.message == "etcdserver: leader changed")
            _ = try await client.create(.configMaps, configMap("x"))
            #expect(counter.count(verb: "create", code: 500) == 1)
            #expect(counter.count(verb: "create", code: 201) == 1)
            let counts = try await server.requestCounts()
            #expect(counts.byVerb["create"] == 2)
            #expect(counts.writes == 2)
        }
    }

    @Test func garbageAnswersAreClearErrors() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            try await server.inject(.init(verb: "get", resource: "configmaps", body: "<html>hello</html>"))
            let notJSON = await failure { try await client.get(.configMaps, name: "x") }
            guard case .invalidResponse(_, let path, let message)? = notJSON as? KubernetesError else {
                Issue.record("expected invalidResponse, got \(String(describing: notJSON))"); return
            }
            #expect(path == "/api/v1/namespaces/default/configmaps/x")
            #expect(message.contains("1:1: unexpected '<'"), "\(message)")

            try await server.inject(.init(verb: "list", resource: "configmaps", code: 502, body: "<html>Bad Gateway</html>"))
            let proxy = await failure { try await client.list(.configMaps) } as? KubernetesError
            #expect(proxy?.status == APIStatus(code: 502, reason: "Unknown", message: "<html>Bad Gateway</html>"))
            #expect(proxy?.isTransient == true)

            try await server.inject(.init(verb: "watch", resource: "configmaps", body: "{\"type\":\"ADDED\",\"object\":{}}\n{broken\n"))
            var events = try await client.watch(.configMaps).makeAsyncIterator()
            #expect(try await events.next()?.object?.kind == "ConfigMap")
            let broken = await failure { try await events.next() }
            guard case .invalidResponse(_, _, let watchMessage)? = broken as? KubernetesError else {
                Issue.record("expected invalidResponse, got \(String(describing: broken))"); return
            }
            #expect(watchMessage.contains("watch event is not JSON"), "\(watchMessage)")
        }
    }

    @Test func connectionsAreKeptAliveAndBounded() async throws {
        try await withFakeAPIServer { server in
            let client = try server.client()
            try await server.resetRequestCounts()
            for index in 0..<50 { _ = try await client.create(.configMaps, configMap("s\(index)")) }
            let sequential = try await server.requestCounts()
            #expect(sequential.total == 50)
            #expect(sequential.connections == 1, "one TLS connection for 50 requests in a row")

            try await server.resetRequestCounts()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask { _ = try await client.create(.configMaps, configMap("c\(index)")) }
                }
                try await group.waitForAll()
            }
            #expect(try await client.listAll(.configMaps).items.count == 250)
            let concurrent = try await server.requestCounts()
            #expect(concurrent.connections <= 64, "at most 64 connections to one server, got \(concurrent.connections)")
        }
    }
}
