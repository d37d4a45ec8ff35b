import EnsembleCore
import Foundation
import LocalEnsemble
import NetCore
import Testing
import ZKConfig
import ZooKeeperOps
import ZooKeeperTestSupport

/// What `ensemble-probe install` stages from the membership the operator keeps in the
/// ConfigMap, against real ZooKeeper (Debian's 3.8): a member started from it joins an
/// ensemble whose membership changed after the ConfigMap was first written, restarts from
/// it once it belongs, and a removed member's data directory is refused.
///
/// The members run on a loopback block as in local mode; the ConfigMap is a directory with
/// its two keys (the static zoo.cfg of the member, and `zoo.cfg.dynamic` as the operator
/// renders it), and install stages into the member's own directory, which its server runs from.
@Suite(.serialized, .timeLimit(.minutes(4))) struct StagedMembershipTests {
    @Test func aMemberStartedFromTheStagedMembershipJoinsTheLiveEnsemble() async throws {
        let superUser = SuperUser.generate()
        try await withZooKeeperEnsemble(members: 3, extraJVMOptions: [superUser.jvmOption]) { zookeeper in
            var ensemble = zookeeper.ensemble
            ensemble.layout = try zookeeper.layout.resized(to: 4)
            let joiner = try #require(ensemble.layout.member(id: 4))
            defer { try? ensemble.stop(joiner) }
            let block = try #require(zookeeper.layout.addressBlock)
            let template = ensemble.layout.serverValue(of: joiner).replacing(joiner.address, with: "\(block).\(StagedMembership.idPlaceholder)")
            let scratch = try temporaryDirectory("staged-membership")
            defer { try? FileManager.default.removeItem(at: scratch) }

            let session = try await ConfigSession.connect(members: zookeeper.clientEndpoints, superUser: superUser)
            do {
                try await scenario(zookeeper, ensemble: ensemble, joiner: joiner, template: template, scratch: scratch, session: session)
            } catch {
                await session.close()
                throw error
            }
            await session.close()
        }
    }

    func scenario(_ zookeeper: ZooKeeperTestEnsemble, ensemble: LocalEnsemble, joiner: LocalMember, template: String,
                  scratch: URL, session: ConfigSession) async throws {
        let first = try await session.readConfig().get()
        #expect(first.participantOrdinals == [0, 1, 2])

        // The membership changes after the ConfigMap was first written: server 2 leaves.
        let removed = await session.perform(.removeFromConfig(ordinal: 1, fromVersion: first.version), serverValue: { _ in "" })
        guard case .applied(let afterRemoval, _) = removed else { Issue.record("removing server 2: \(removed)"); return }
        #expect(afterRemoval.participantOrdinals == [0, 2])
        try zookeeper.stopMember(2)

        // Server 4 starts from what install stages out of the rewritten membership: the
        // live servers plus itself, as version 0.
        let source = try configMap(in: scratch, zooCfg: ensemble.layout.zooCfg(for: joiner, servers: []),
                                   membership: StagedMembership(config: afterRemoval, joinTemplate: template))
        let staged = try install(ordinal: 3, source: source, member: joiner, bin: scratch)
        #expect(staged.status == 0, "\(staged.stderr)")
        #expect(staged.stderr.contains("server 4 joins configuration \(afterRemoval.versionText) (staged as version 0)"), "\(staged.stderr)")
        #expect(try String(contentsOfFile: joiner.configPath, encoding: .utf8).contains("dynamicConfigFile=\(joiner.directory)/zoo.cfg.dynamic.0\n"))
        try ensemble.start(joiner)

        // It syncs as a non-voting follower of the live configuration, and is added.
        try await waitUntil("server 4 serves as a follower", timeout: 60) {
            ensemble.status().first { $0.member.id == 4 }?.mode == .follower
        }
        let live = try await session.readConfig().get()
        #expect(live == afterRemoval, "a joiner changes nothing by itself")
        let added = await session.perform(.addToConfig(ordinal: 3, fromVersion: live.version), serverValue: { _ in ensemble.layout.serverValue(of: joiner) })
        guard case .applied(let grown, _) = added else { Issue.record("adding server 4: \(added)"); return }
        #expect(grown.participantOrdinals == [0, 2, 3])

        // ZooKeeper keeps the configuration it learns next to zoo.cfg, named by version.
        try await waitUntil("server 4 records configuration \(grown.versionText)", timeout: 30) {
            (try? String(contentsOfFile: joiner.configPath, encoding: .utf8))?
                .contains("dynamicConfigFile=\(joiner.directory)/zoo.cfg.dynamic.\(String(grown.version, radix: 16))") == true
        }

        // Restarted from the membership the operator rewrote, it is listed: staged under
        // its own version, and it serves again.
        try ensemble.stop(joiner)
        let rewritten = try configMap(in: scratch, zooCfg: ensemble.layout.zooCfg(for: joiner, servers: []),
                                      membership: StagedMembership(config: grown, joinTemplate: template))
        let again = try install(ordinal: 3, source: rewritten, member: joiner, bin: scratch)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("myid 4 already in"), "\(again.stderr)")
        #expect(again.stderr.contains("server 4 is in configuration \(grown.versionText)"), "\(again.stderr)")
        try ensemble.start(joiner)
        try await waitUntil("server 4 serves as a voter again", timeout: 60) {
            [.follower, .leader].contains(ensemble.status().first { $0.member.id == 4 }?.mode)
        }

        // Server 2's data directory, left behind by its removal, is refused for the ordinal it
        // had once the membership says a scale-down took it out (as the operator records it);
        // without that (a leader hand-off takes a member out too) it would rejoin with its data.
        let removedMember = try zookeeper.member(2)
        let departed = try configMap(in: scratch, zooCfg: ensemble.layout.zooCfg(for: removedMember, servers: []),
                                     membership: StagedMembership(config: grown, joinTemplate: template, left: [2: afterRemoval.version]))
        let refused = try install(ordinal: 1, source: departed, member: removedMember, bin: scratch)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("refusing to start: server 2 (ordinal 1) was scaled away at configuration \(afterRemoval.versionText)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("began before configuration epochs were recorded"), "\(refused.stderr)")
        #expect(try install(ordinal: 1, source: rewritten, member: removedMember, bin: scratch).status == 0, "no departure recorded: it may rejoin")
    }

    /// The ConfigMap as kubelet mounts it would be: here, plain files in a fresh directory.
    func configMap(in scratch: URL, zooCfg: String, membership: StagedMembership) throws -> String {
        let directory = scratch.appendingPathComponent("configmap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try zooCfg.write(to: directory.appendingPathComponent("zoo.cfg"), atomically: true, encoding: .utf8)
        try membership.text.write(to: directory.appendingPathComponent(Rendering.membershipKey), atomically: true, encoding: .utf8)
        return directory.path
    }

    func install(ordinal: Int, source: String, member: LocalMember, bin: URL) throws -> ProcessResult {
        try runProcess(try builtProduct("ensemble-probe"), [
            "install", bin.appendingPathComponent("bin").path, "--ordinal", String(ordinal), "--data-dir", member.dataDir,
            "--config-source", source, "--config-dir", member.directory,
        ])
    }

    func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) async throws {
        let deadline = Deadline.after(seconds: timeout)
        while !deadline.hasPassed {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(200))  // polling interval; the deadline bounds the wait
        }
        try #require(try condition(), "timed out after \(Int(timeout)) s waiting until \(what)")
    }
}
