import EnsembleCore
import KubernetesClient
import Testing

/// The watcher's decisions, with no I/O: what a store would see across lists, pages,
/// bookmarks, a 410 Gone and transient failures.
@Suite struct WatcherStateMachineTests {
    func object(_ name: String, _ version: String) -> KubeObject {
        KubeObject(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": "default", "resourceVersion": .string(version)]])
    }

    @Test func listsThenWatchesFromTheListVersion() {
        var machine = WatcherStateMachine()
        #expect(machine.nextAction() == .list(continueToken: nil))
        let event = machine.listed(ObjectList(items: [object("a", "5")], resourceVersion: "7"))
        #expect(event == .listed([object("a", "5")]))
        #expect(machine.nextAction() == .watch(resourceVersion: "7"))
    }

    @Test func pagesAreCollectedIntoOneListingAtTheFirstPagesVersion() {
        var machine = WatcherStateMachine()
        _ = machine.nextAction()
        #expect(machine.listed(ObjectList(items: [object("a", "1")], resourceVersion: "10", continueToken: "t1")) == nil)
        #expect(machine.nextAction() == .list(continueToken: "t1"))
        #expect(machine.listed(ObjectList(items: [object("b", "2")], resourceVersion: "10", continueToken: "t2")) == nil)
        #expect(machine.nextAction() == .list(continueToken: "t2"))
        let done = machine.listed(ObjectList(items: [object("c", "3")], resourceVersion: "10"))
        #expect(done == .listed([object("a", "1"), object("b", "2"), object("c", "3")]))
        #expect(machine.nextAction() == .watch(resourceVersion: "10"))
    }

    @Test func eventsAndBookmarksAdvanceTheResumeVersion() {
        var machine = WatcherStateMachine()
        _ = machine.listed(ObjectList(items: [], resourceVersion: "1"))
        #expect(machine.received(.added(object("a", "2"))) == .applied(object("a", "2")))
        #expect(machine.received(.modified(object("a", "3"))) == .applied(object("a", "3")))
        #expect(machine.received(.bookmark(resourceVersion: "9")) == nil)
        #expect(machine.resourceVersion == "9")
        #expect(machine.received(.deleted(object("a", "11"))) == .deleted(object("a", "11")))
        machine.watchEnded()
        #expect(machine.nextAction() == .watch(resourceVersion: "11"))
    }

    @Test func aWatchThatEndsEmptyHandedBacksOff() {
        var machine = WatcherStateMachine(backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)))
        _ = machine.listed(ObjectList(items: [], resourceVersion: "3"))
        #expect(machine.nextAction() == .watch(resourceVersion: "3"))
        machine.watchEnded()
        #expect(machine.nextAction() == .wait(.milliseconds(100)))
        #expect(machine.nextAction() == .watch(resourceVersion: "3"))
        machine.watchEnded()
        #expect(machine.nextAction() == .wait(.milliseconds(200)))
        // One that delivered resumes at once.
        #expect(machine.nextAction() == .watch(resourceVersion: "3"))
        _ = machine.received(.bookmark(resourceVersion: "4"))
        machine.watchEnded()
        #expect(machine.nextAction() == .watch(resourceVersion: "4"))
    }

    @Test func goneMeansAFreshListWithoutWaiting() {
        var machine = WatcherStateMachine()
        _ = machine.listed(ObjectList(items: [], resourceVersion: "4"))
        machine.failed(KubernetesError.api(method: "GET", path: "/x", status: APIStatus(code: 410, reason: "Expired", message: "too old")))
        #expect(machine.nextAction() == .list(continueToken: nil))
    }

    @Test func anExpiredContinueTokenRestartsTheListFromTheFirstPage() {
        var machine = WatcherStateMachine()
        _ = machine.listed(ObjectList(items: [object("a", "1")], resourceVersion: "10", continueToken: "t1"))
        machine.failed(KubernetesError.api(method: "GET", path: "/x", status: APIStatus(code: 410, reason: "Expired", message: "continue too old")))
        #expect(machine.nextAction() == .list(continueToken: nil))
        #expect(machine.listed(ObjectList(items: [object("b", "2")], resourceVersion: "12")) == .listed([object("b", "2")]))
    }

    @Test func otherFailuresBackOffWithCappedDoublingAndRetryTheSameStep() {
        var machine = WatcherStateMachine(backoff: Backoff(initial: .milliseconds(100), maximum: .milliseconds(350)))
        _ = machine.listed(ObjectList(items: [], resourceVersion: "4"))
        let failure = KubernetesError.transport(method: "GET", path: "/x", curlCode: 7, message: "refused")
        var waits: [Duration] = []
        for _ in 0..<4 {
            machine.failed(failure)
            guard case .wait(let delay) = machine.nextAction() else { Issue.record("expected a wait"); return }
            waits.append(delay)
            #expect(machine.nextAction() == .watch(resourceVersion: "4"))
        }
        #expect(waits == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350)])
        // Success resets the backoff.
        _ = machine.received(.bookmark(resourceVersion: "5"))
        machine.failed(failure)
        #expect(machine.nextAction() == .wait(.milliseconds(100)))
    }

    @Test func aFailedFirstListIsRetriedAfterBackoff() {
        var machine = WatcherStateMachine(backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1)))
        #expect(machine.nextAction() == .list(continueToken: nil))
        machine.failed(KubernetesError.api(method: "GET", path: "/x", status: APIStatus(code: 500, reason: "InternalError", message: "")))
        #expect(machine.nextAction() == .wait(.milliseconds(50)))
        #expect(machine.nextAction() == .list(continueToken: nil))
    }
}
