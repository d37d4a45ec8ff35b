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

/// A child process with its own resource usage, killed at a deadline, its address space
/// capped at 1 GiB.
///
/// A small python3 parent forks and measures it: a child posix_spawn'ed straight from this
/// test process shares the test's address space until exec (vfork), and the kernel then
/// records the test's own peak RSS as the child's, so wait4 here would report the test's size.
struct MeasuredRun {
    var status: Int32 = -1
    var timedOut = false
    var stderr = ""
    var seconds = 0.0
    var maxRSSKiB = 0

    static let parent = """
        import os, resource, sys, time
        result, timeout, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
        pid = os.fork()
        if pid == 0:
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
            os.execv(argv[0], argv)
        start, timed_out = time.monotonic(), False
        while True:
            reaped, status, usage = os.wait4(pid, os.WNOHANG)
            if reaped == pid: break
            if time.monotonic() - start > timeout:
                os.kill(pid, 9); _, status, usage = os.wait4(pid, 0); timed_out = True; break
            time.sleep(0.005)
        code = os.waitstatus_to_exitcode(status)
        with open(result, "w") as f: f.write(f"{code} {int(timed_out)} {time.monotonic() - start} {usage.ru_maxrss}")
        """

    init(_ executable: String, _ arguments: [String], timeout: Double) throws {
        let directory = try temporaryDirectory("measured")
        defer { try? FileManager.default.removeItem(at: directory) }
        let resultFile = directory.appendingPathComponent("result")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.parent, resultFile.path, String(timeout), executable] + arguments
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        // The parent enforces `timeout` itself; read stderr to the end so a chatty child never blocks.
        let errorBytes = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        stderr = String(decoding: errorBytes, as: UTF8.self)
        let fields = try String(contentsOf: resultFile, encoding: .utf8).split(separator: " ")
        guard fields.count == 4, let code = Int32(fields[0]), let seconds = Double(fields[2]), let rss = Int(fields[3]) else {
            throw POSIXError(.EIO)
        }
        // A negative code is the signal that ended it (python's convention); -1 like before.
        status = code < 0 ? -1 : code
        timedOut = fields[1] == "1"
        self.seconds = seconds
        maxRSSKiB = rss
    }
}
