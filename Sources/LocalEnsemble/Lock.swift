import Foundation
import NetCore
#if canImport(Glibc)
import Glibc
#endif

// One zkctl at a time per local ensemble. Two `up`s at once would each spawn a JVM per
// member (one then dies of a bind error and its pid file lies); a `down --purge` during an
// `up` would delete files under a starting member. Every command that changes an ensemble
// (up, down, and later roll and scale) runs inside `withExclusiveLock`; status only reads.
//
// The lock is flock(2) on the ensemble's directory `<state>/<name>` itself, so nothing is
// left behind by a purge. A purge deletes that directory while holding it, so a waiter
// that then gets the lock checks that the path still names the directory it locked, and
// starts over when it does not. The kernel drops the lock when its holder exits however it
// exits, and members never inherit it (the descriptor is close-on-exec, and spawnDetached
// closes everything above stderr).

extension LocalEnsembleLayout {
    /// Runs `body` while this process alone holds the ensemble's directory, creating the
    /// directory when missing. Waits up to `timeout` seconds for another holder (calling
    /// `waiting` once with who it is), then throws `LocalEnsembleError.busy`.
    public func withExclusiveLock<T>(timeout: Double, waiting: (String) -> Void = { _ in }, _ body: () throws -> T) throws -> T {
        guard let result = try Self.withExclusiveLock(
            name: name, stateDirectory: stateDirectory, createIfMissing: true, timeout: timeout, waiting: waiting, body)
        else { throw LocalEnsembleError.io(path: ensembleDirectory, reason: "disappeared while being locked") }
        return result
    }

    /// The same for an ensemble known only by name: nil, without running `body`, when its
    /// directory does not exist and `createIfMissing` is false (nothing to lock, nothing to do).
    public static func withExclusiveLock<T>(
        name: String, stateDirectory: String, createIfMissing: Bool, timeout: Double,
        waiting: (String) -> Void = { _ in }, _ body: () throws -> T
    ) throws -> T? {
        try checkName(name)
        let directory = (stateDirectory as NSString).appendingPathComponent(name)
        guard let fd = try DirectoryLock.acquire(directory, create: createIfMissing, timeout: timeout, waiting: waiting) else {
            return nil
        }
        defer { close(fd) }
        return try body()
    }
}

extension LocalEnsemble {
    /// `LocalEnsembleLayout.withExclusiveLock` for this ensemble: take it around anything that
    /// starts, stops, restarts or re-records members.
    public func withExclusiveLock<T>(timeout: Double, waiting: (String) -> Void = { _ in }, _ body: () throws -> T) throws -> T {
        try layout.withExclusiveLock(timeout: timeout, waiting: waiting, body)
    }
}

enum DirectoryLock {
    /// The descriptor that holds the lock (close it to release), or nil when the directory
    /// does not exist and may not be created.
    static func acquire(_ directory: String, create: Bool, timeout: Double, waiting: (String) -> Void) throws(LocalEnsembleError) -> Int32? {
        let deadline = Deadline.after(seconds: timeout)
        var announced = false
        while true {
            if create { try ProcessControl.createDirectory(directory) }
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 {
                let code = errno
                if code == ENOENT && !create { return nil }
                // Deleted between mkdir and open by a purge: make it again.
                if code == ENOENT && !deadline.hasPassed { continue }
                throw .io(path: directory, reason: "cannot open to lock: \(String(cString: strerror(code)))")
            }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                guard code == EWOULDBLOCK || code == EINTR else {
                    close(fd)
                    throw .io(path: directory, reason: "cannot lock: \(String(cString: strerror(code)))")
                }
                if deadline.hasPassed {
                    let who = holder(of: fd)
                    close(fd)
                    throw .busy(path: directory, holder: who, seconds: timeout)
                }
                if !announced {
                    announced = true
                    waiting("waiting for \(holder(of: fd)), which is working on \(directory)")
                }
                usleep(50_000)
            }
            var locked = stat(), current = stat()
            if fstat(fd, &locked) == 0, stat(directory, &current) == 0, locked.st_dev == current.st_dev, locked.st_ino == current.st_ino {
                return fd
            }
            // We waited on a directory a purge has since deleted: it guards nothing any more.
            close(fd)
        }
    }

    /// "pid 123 (zkctl local up -f zk.yaml)" from /proc/locks, or a generic phrase when the
    /// holder cannot be seen (another pid namespace, no /proc).
    static func holder(of fd: Int32) -> String {
        var info = stat()
        guard fstat(fd, &info) == 0, let table = FileManager.default.contents(atPath: "/proc/locks") else { return "another process" }
        // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:2359308 0 EOF"; waiters' lines have "->".
        for line in String(decoding: table, as: UTF8.self).split(separator: "\n") where !line.contains("->") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = pid_t(fields[4]),
                fields[5].split(separator: ":").last == Substring(String(info.st_ino))
            else { continue }
            guard let command = ProcessControl.commandLine(of: pid), !command.isEmpty else { return "pid \(pid)" }
            let program = (command[0] as NSString).lastPathComponent
            return "pid \(pid) (\(([program] + command.dropFirst()).joined(separator: " ")))"
        }
        return "another process"
    }
}
