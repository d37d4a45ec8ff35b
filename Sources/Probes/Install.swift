#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why install refused or failed; the description is the line on stderr.
struct InstallError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The file name probes are run as: `<DIR>/ensemble-probe`.
let installedName = "ensemble-probe"

func runInstall(_ options: InstallOptions, environment: (String) -> String?) throws(InstallError) -> String {
    var done: [String] = []
    // myid first: if this data directory belongs to another member, change nothing at all.
    if let dataDir = options.dataDir {
        let ordinal = try resolveOrdinal(explicit: options.ordinal, environment: environment)
        done.append(try writeMyid(dataDir: dataDir, ordinal: ordinal))
    }
    if let source = options.configSource, let target = options.configDir {
        let count = try stageConfig(from: source, to: target)
        done.append("staged \(count) config file\(count == 1 ? "" : "s") into \(target)")
    }
    try makeDirectories(options.directory)
    let binary = try readFile("/proc/self/exe")
    let destination = join(options.directory, installedName)
    try writeFileAtomically(destination, binary, mode: 0o755)
    done.append("installed \(destination)")
    return done.joined(separator: "; ")
}

/// The StatefulSet ordinal: explicit flag, else POD_INDEX (downward API of the
/// `apps.kubernetes.io/pod-index` label), else the host name's suffix after the last '-'.
func resolveOrdinal(explicit: Int?, environment: (String) -> String?) throws(InstallError) -> Int {
    if let explicit { return explicit }
    if let text = environment("POD_INDEX"), !text.isEmpty {
        guard let ordinal = Int(text), ordinal >= 0 else {
            throw InstallError("POD_INDEX is '\(text)', not a non-negative integer")
        }
        return ordinal
    }
    let host = hostName()
    if let dash = host.lastIndex(of: "-"), let ordinal = Int(host[host.index(after: dash)...]), ordinal >= 0 {
        return ordinal
    }
    throw InstallError("cannot tell this pod's ordinal: no --ordinal, no POD_INDEX, and host name '\(host)' has no numeric '-N' suffix")
}

/// Writes `myid` unless an identical one exists; a different (or unreadable) one is refused.
func writeMyid(dataDir: String, ordinal: Int) throws(InstallError) -> String {
    let id = ordinal + 1
    let path = join(dataDir, "myid")
    if let existing = try readFileIfExists(path) {
        let text = String(decoding: existing, as: UTF8.self)
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        guard trimmed.count == 1, let found = Int(trimmed[0]) else {
            throw InstallError("refusing to start: \(path) holds '\(sanitizedLine(text, limit: 40))', not a server id; this pod is id \(id) (ordinal \(ordinal))")
        }
        guard found == id else {
            throw InstallError("refusing to start: \(path) holds id \(found) but this pod is id \(id) (ordinal \(ordinal)); the data directory belongs to another member")
        }
        return "myid \(id) already in \(path)"
    }
    try makeDirectories(dataDir)
    try writeFileAtomically(path, Array("\(id)\n".utf8), mode: 0o644)
    return "wrote myid \(id) to \(path)"
}

/// Copies every regular file (following the ConfigMap's symlinks) from `source` to `target`.
func stageConfig(from source: String, to target: String) throws(InstallError) -> Int {
    guard let dir = opendir(source) else { throw InstallError("cannot read \(source): \(errnoText())") }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        // `..data` and the timestamped directories are the ConfigMap's own plumbing.
        if name == "." || name == ".." || name.hasPrefix("..") { continue }
        var info = stat()
        if stat(join(source, name), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { names.append(name) }
    }
    closedir(dir)
    guard !names.isEmpty else { throw InstallError("\(source) holds no regular files to stage") }
    try makeDirectories(target)
    for name in names.sorted() {
        let bytes = try readFile(join(source, name))
        try writeFileAtomically(join(target, name), bytes, mode: 0o644)
    }
    return names.count
}

// MARK: - Small POSIX file helpers (no Foundation in this binary)

func join(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

func errnoText() -> String { String(cString: strerror(errno)) }

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func makeDirectories(_ path: String) throws(InstallError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        prefix += component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw InstallError("cannot create directory \(prefix): \(errnoText())")
        }
        prefix += "/"
    }
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
        throw InstallError("\(path) is not a directory")
    }
}

func readFileIfExists(_ path: String) throws(InstallError) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
        if errno == ENOENT { return nil }
        throw InstallError("cannot open \(path): \(errnoText())")
    }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n == 0 { return result }
        if n < 0 {
            if errno == EINTR { continue }
            throw InstallError("cannot read \(path): \(errnoText())")
        }
        result += chunk[0..<n]
    }
}

func readFile(_ path: String) throws(InstallError) -> [UInt8] {
    guard let bytes = try readFileIfExists(path) else { throw InstallError("\(path) does not exist") }
    return bytes
}

/// Temporary file in the same directory, fsync, rename: readers see the old file or the
/// whole new one, never a half-written binary or config.
func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(InstallError) {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let temporary = join(directory.isEmpty ? "/" : directory, ".\(base).tmp.\(getpid())")
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw InstallError("cannot create \(temporary): \(errnoText())") }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            let reason = errnoText()
            close(fd); unlink(temporary)
            throw InstallError("cannot write \(temporary): \(reason)")
        }
        offset += n
    }
    // The umask may have narrowed the mode given to open; the binary must be executable.
    if fchmod(fd, mode) != 0 || fsync(fd) != 0 {
        let reason = errnoText()
        close(fd); unlink(temporary)
        throw InstallError("cannot finish \(temporary): \(reason)")
    }
    close(fd)
    if rename(temporary, path) != 0 {
        let reason = errnoText()
        unlink(temporary)
        throw InstallError("cannot rename \(temporary) to \(path): \(reason)")
    }
}

/// Text from outside (a peer, a file) flattened to one bounded printable line.
func sanitizedLine(_ text: String, limit: Int = 300) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        if result.unicodeScalars.count >= limit { result += "..."; break }
        result.unicodeScalars.append(scalar.value >= 0x20 && scalar.value != 0x7f ? scalar : " ")
    }
    return result
}
