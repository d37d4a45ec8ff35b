import Foundation
import Testing
import ZooKeeperTestSupport

/// `zkctl plan scale`: the scale dry run as users read it (the built binary, the examples).
@Suite struct ZkctlPlanTests {
    func plan(_ arguments: [String]) throws -> ProcessResult {
        try zkctl(["plan", "scale"] + arguments)
    }

    func example(_ name: String) -> String { repoRoot.appendingPathComponent("examples/\(name)").path }

    /// Cassandra cannot be scaled here for real: the dry run is how its planner's commands are
    /// shown, decommission before the StatefulSet shrinks.
    @Test func cassandraScaleDownShowsDecommissionFirst() throws {
        let result = try plan(["-f", example("cassandra-3.yaml"), "--from", "3", "--to", "2"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout == """
            Cassandra ensemble 'cassandra': 3 -> 2 members, 4 steps
            1. decommission cassandra-2: scaling to 2 nodes: cassandra-2 is decommissioned (it streams its data to the others and leaves the ring) before it stops
                 $ kubectl -n default exec cassandra-2 -c cassandra -- nodetool decommission
            2. wait for cassandra-2: cassandra-2 is UL; waiting until it has left the ring
            3. stop cassandra-2: cassandra-2 is above the desired 2 members and out of the membership; it is stopped
                 $ kubectl -n default scale statefulset cassandra --replicas=2
            4. scaling done: the ring has exactly the 2 desired nodes

            """)
    }

    @Test func zooKeeperScaleUpAsJSON() throws {
        let result = try plan(["-f", example("zookeeper-3.yaml"), "--from", "3", "--to", "5", "-o", "json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["engine"] as? String == "ZooKeeper" && json["from"] as? Int == 3 && json["to"] as? Int == 5)
        let steps = try #require(json["steps"] as? [[String: Any]])
        #expect(steps.compactMap { $0["action"] as? String } == ["start", "wait", "addToConfig", "start", "wait", "addToConfig", "done"])
        #expect(steps.compactMap { $0["member"] as? Int } == [3, 3, 3, 4, 4, 4])
        #expect(steps[2]["command"] as? String
            == "zkCli.sh -server zk-client:2181 reconfig -v <version> -add 'server.4=zk-3.zk-hs.default.svc.cluster.local:2888:3888:participant;2181'")
        #expect(steps[6]["code"] as? String == "MembershipComplete")
    }

    /// --to goes through the same rule as spec.replicas; --from must be possible at all.
    @Test func replicaCountsAreChecked() throws {
        let tooMany = try plan(["-f", example("zookeeper-3.yaml"), "--from", "3", "--to", "12"])
        #expect(tooMany.status == 1 && tooMany.stderr.contains("--to: error: must be between 1 and 9 for ZooKeeper, got 12"), "\(tooMany.stderr)")
        let even = try plan(["-f", example("zookeeper-3.yaml"), "--from", "3", "--to", "4"])
        #expect(even.status == 0 && even.stderr.contains("--to: warning: 4 members tolerate 1 failure(s)"), "\(even.stderr)")
        #expect(even.stdout.contains("3 -> 4 members"))
        #expect(try plan(["-f", example("zookeeper-3.yaml"), "--from", "0"]).status == 64)
        let from = try plan(["-f", example("zookeeper-3.yaml"), "--from", "10"])
        #expect(from.status == 1 && from.stderr.contains("at most 9 members"), "\(from.stderr)")
    }
}
