import EnsembleCore
import Foundation
import Testing
import ZooKeeperTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `zkctl validate` and `render` on a 20-line "billion laughs" document: refused with the
/// line at fault, quickly and in little memory. Before the pre-pass the same command ran
/// for minutes and grew past 3 GiB; here a deadline and an address-space cap turn that into
/// a failure instead of a hung suite.
@Suite struct YAMLBombTests {
    static let bomb = """
        apiVersion: ensemble.dev/v1alpha1
        kind: Ensemble
        metadata:
          name: zk
        spec:
          engine: ZooKeeper
          scheduling:
            nodeAffinity:
              a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
              b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
              c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
              d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
              e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
              f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
              g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
              h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
              i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]

        """

    @Test(arguments: ["validate", "render"])
    func billionLaughsIsRefusedFastAndSmall(_ command: String) throws {
        let dir = try temporaryDirectory("bomb")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bomb.yaml")
        try Self.bomb.write(to: file, atomically: true, encoding: .utf8)
        let run = try MeasuredRun(try builtProduct("zkctl"), [command, "-f", file.path], timeout: 20)
        try #require(!run.timedOut, "zkctl \(command) did not finish within 20 s (killed)")
        #expect(run.status == 1)
        // The fourth *e on line 14 pushes the expansion past the node limit.
        #expect(run.stderr == "zkctl: \(file.path):14:20: error: document expands aliases beyond 250000 nodes\n", "\(run.stderr)")
        // The bound is 100 MiB; a debug zkctl that only starts and stops stays near 25.
        #expect(run.maxRSSKiB < 100 * 1024, "peak RSS \(run.maxRSSKiB) KiB")
        #expect(run.seconds < 10, "took \(run.seconds) s")
    }
}

extension YAMLBombTests {
    /// A file beyond the stream limit is refused before it is read (a sparse file: no disk).
    @Test func oversizedInputIsRefusedBeforeReading() throws {
        let dir = try temporaryDirectory("huge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("huge.yaml")
        FileManager.default.createFile(atPath: file.path, contents: Data("apiVersion: v1\n".utf8))
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: UInt64(DocumentLimits.maxStreamBytes + 1))
        try handle.close()
        let run = try MeasuredRun(try builtProduct("zkctl"), ["validate", "-f", file.path], timeout: 20)
        #expect(run.status == 1)
        #expect(run.stderr == "zkctl: \(file.path): error: input is larger than \(DocumentLimits.maxStreamBytes) bytes, more than this tool reads at once\n")
        #expect(run.maxRSSKiB < 64 * 1024, "read the file: peak RSS \(run.maxRSSKiB) KiB")
    }
}

/// A child process with its own resource usage (wait4), killed at a deadline, its address
/// space capped at 1 GiB.
struct MeasuredRun {
    var status: Int32 = -1
    var timedOut = false
    var stderr = ""
    var seconds = 0.0
    var maxRSSKiB = 0

    init(_ executable: String, _ arguments: [String], timeout: Double) throws {
        let errorFile = try temporaryDirectory("measured").appendingPathComponent("stderr")
        defer { try? FileManager.default.removeItem(at: errorFile.deletingLastPathComponent()) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errorFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // sh caps the address space, then becomes the program (same pid, so wait4 measures
        // it): a runaway child fails at 1 GiB instead of taking the machine's memory.
        let argv = (["/bin/sh", "-c", "ulimit -v 1048576 && exec \"$0\" \"$@\"", executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var waitStatus: Int32 = 0
        var usage = rusage()
        while true {
            let reaped = wait4(pid, &waitStatus, WNOHANG, &usage)
            if reaped == pid { break }
            if Date().timeIntervalSince(start) > timeout {
                kill(pid, SIGKILL)
                _ = wait4(pid, &waitStatus, 0, &usage)
                timedOut = true
                break
            }
            usleep(5_000)
        }
        seconds = Date().timeIntervalSince(start)
        status = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : -1
        maxRSSKiB = Int(usage.ru_maxrss)
        stderr = try String(contentsOf: errorFile, encoding: .utf8)
    }
}
