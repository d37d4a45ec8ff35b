import Foundation
import NetCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The termination signal that arrived inside `withTerminationSignalsDeferred`, 0 for none.
private let deferredSignal = Atomic<Int32>(0)

/// Low-level process and file helpers: posix_spawn, signals, /proc checks, atomic writes.
enum ProcessControl {
    /// glibc's POSIX_SPAWN_SETSID (a GNU extension the Swift Glibc module does not export).
    private static let spawnSetSID: Int32 = 0x80

    /// Starts `arguments[0]` in a new session (so terminal signals and the launcher's exit do
    /// not reach it) with stdin from /dev/null, stdout+stderr appended to `logPath`, the
    /// working directory `directory`, and no inherited descriptors beyond 0-2 (an inherited
    /// pipe would keep a caller's reader waiting for EOF as long as the server lives).
    static func spawnDetached(arguments: [String], directory: String, logPath: String) throws(LocalEnsembleError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeDescriptorsFrom3(&actions)
        if let addChdir = addChdirFunction { _ = addChdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Reset signal dispositions and mask: a launcher that ignores SIGTERM must not hand
        // that to the server, or stop() could only ever SIGKILL it.
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(spawnSetSID | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw .io(path: arguments[0], reason: "posix_spawn failed: \(String(cString: strerror(result)))")
        }
        // posix_spawn returns once the child has exec'd, but the kernel fills in the new
        // program's argument area a moment later; until then /proc/<pid>/cmdline reads empty
        // and the member would look gone (seen under load: "exited, nothing logged").
        let visibleBy = Deadline.after(seconds: 2)
        while commandLine(of: pid) == nil && !isZombieOrGone(pid) && !visibleBy.hasPassed {
            usleep(1_000)
        }
        return pid
    }

    /// True when `pid` has exited (a zombie: state Z in /proc/<pid>/stat) or does not exist.
    static func isZombieOrGone(_ pid: pid_t) -> Bool {
        guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count
        else { return true }
        return stat[close + 2] == UInt8(ascii: "Z")
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    // glibc 2.34+ has these, but the Swift Glibc module does not export the GNU extensions.
    private static let addCloseFromFunction: AddCloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }
    private static let addChdirFunction: AddChdir? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }

    private static func closeDescriptorsFrom3(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom = addCloseFromFunction {
            _ = addCloseFrom(&actions, 3)
            return
        }
        // Older glibc: close what is open now that is not already close-on-exec.
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for fd in entries.compactMap({ Int32($0) }) where fd >= 3 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// The NUL-separated argument vector of a live, non-zombie process; nil when there is no
    /// such process (or it is a zombie, whose cmdline is empty).
    static func commandLine(of pid: pid_t) -> [String]? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else {
            return nil
        }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every live process running ZooKeeper's server, with the zoo.cfg it was given (the
    /// argument after the main class), from /proc. This is how members are found whatever
    /// their pid files say: a launcher killed between spawning a member and recording it
    /// leaves a member no pid file names.
    static func zooKeeperServers() -> [(pid: pid_t, configPath: String)] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var servers: [(pid: pid_t, configPath: String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), let arguments = commandLine(of: pid),
                let main = arguments.firstIndex(of: ZooKeeperInstallation.mainClass), main + 1 < arguments.count
            else { continue }
            servers.append((pid, arguments[main + 1]))
        }
        return servers
    }

    /// Runs `body` with SIGINT, SIGTERM, SIGHUP and SIGQUIT held back: one that arrives
    /// meanwhile is re-raised when `body` returns. For spawning a member and recording its
    /// pid, which must not be split by a Ctrl-C. (SIGKILL cannot be held back; members are
    /// then found by `zooKeeperServers`.) Dispositions are process-wide, so it works whichever
    /// thread the signal lands on; not for concurrent use.
    static func withTerminationSignalsDeferred<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let signals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
        var previous: [sigaction] = Array(repeating: sigaction(), count: signals.count)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in deferredSignal.store(signal, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        for (index, signal) in signals.enumerated() { sigaction(signal, &action, &previous[index]) }
        defer {
            for (index, signal) in signals.enumerated() { sigaction(signal, &previous[index], nil) }
            let pending = deferredSignal.exchange(0, ordering: .relaxed)
            if pending != 0 { raise(pending) }
        }
        return try body()
    }

    /// True only when `pid` is alive and runs with `configPath` as an argument: the pid file
    /// may be stale and the number recycled by an unrelated process, which we must not signal.
    static func isServer(pid: pid_t, configPath: String) -> Bool {
        guard let arguments = commandLine(of: pid) else { return false }
        return arguments.contains(configPath) && arguments.contains(ZooKeeperInstallation.mainClass)
    }

    /// True once the server `pid` has ended: /proc no longer lists it, lists only its zombie
    /// main thread, or lists another program (the number was reused). An empty command line
    /// is not enough, nor is a zombie main thread: an exiting process loses its command line
    /// (its memory goes first) and its main thread may end before the others, while the files
    /// they share, listening sockets included, stay open until the last thread is gone; a
    /// member started again at that moment would find its ports taken.
    static func hasEnded(pid: pid_t, configPath: String) -> Bool {
        if let arguments = commandLine(of: pid) {
            return !(arguments.contains(configPath) && arguments.contains(ZooKeeperInstallation.mainClass))
        }
        guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return true }
        // "pid (comm) S ...": the state follows the last ')' (comm may contain one).
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return true }
        let state = text[text.index(after: close)...].drop { $0 == " " }.first
        guard state == "Z" || state == "X" || state == nil else { return false }
        // An unreadable task list means the process is gone altogether.
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
        return threads <= 1
    }

    /// Collects the exit status if `pid` is our own child, so it does not linger as a zombie.
    /// For other processes waitpid fails with ECHILD and does nothing.
    static func reapIfChild(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    static func signal(_ pid: pid_t, _ signal: Int32) -> Int32 {
        kill(pid, signal) == 0 ? 0 : errno
    }

    /// Writes `contents` to a temporary file next to `path`, flushes it and renames it over
    /// `path`, so readers see the old file or the new one, never half of one.
    static func writeAtomically(_ contents: String, to path: String, mode: mode_t = 0o644) throws(LocalEnsembleError) {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(path: temporary, reason: String(cString: strerror(errno))) }
        var bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw .io(path: temporary, reason: reason)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw .io(path: temporary, reason: "fsync: \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .io(path: path, reason: "rename: \(reason)")
        }
    }

    static func createDirectory(_ path: String) throws(LocalEnsembleError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .io(path: path, reason: "cannot create directory: \(error.localizedDescription)")
        }
    }

    /// Fails when `address:port` cannot be bound right now. SO_REUSEADDR like ZooKeeper's own
    /// listeners, so sockets of a just-stopped member in TIME_WAIT do not count as busy.
    static func checkBindable(address: String, port: Int) -> String? {
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0 ? nil : String(cString: strerror(errno))
    }

    /// Appends `text` to a file (creating it), as one write.
    static func append(_ text: String, to path: String) throws(LocalEnsembleError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress!, $0.count) }) == bytes.count else {
            throw .io(path: path, reason: "write: \(String(cString: strerror(errno)))")
        }
    }

    /// Why a process that logged to `path` ended, in a few lines: from the text after the
    /// last line starting with `marker` (this run's output), the first lines that name an
    /// error, skipping stack frames; else the last lines; "(nothing logged)" when empty.
    static func errorLines(of path: String, after marker: String, limit: Int = 4) -> String {
        let text = tail(of: path, lines: 400)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if let start = lines.lastIndex(where: { $0.hasPrefix(marker) }) { lines = Array(lines[(start + 1)...]) }
        let errors = lines.filter { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return !trimmed.hasPrefix("at ") && ["ERROR", "FATAL", "Error", "Exception", "error:"].contains { line.contains($0) }
        }
        let chosen = errors.isEmpty ? Array(lines.suffix(limit)) : Array(errors.prefix(limit))
        return chosen.isEmpty ? "(nothing logged)" : chosen.joined(separator: "\n")
    }

    /// The last `lines` lines of a text file ("" when it does not exist). Reads at most the
    /// final 64 KiB so a huge log costs nothing.
    static func tail(of path: String, lines: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 65_536 ? size - 65_536 : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return "" }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
            .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
