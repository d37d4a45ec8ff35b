#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ZKConfig

/// Why install refused or failed; the description is the line on stderr.
struct InstallError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The file name probes are run as: `<DIR>/ensemble-probe`.
let installedName = "ensemble-probe"

func runInstall(_ options: InstallOptions, environment: (String) -> String?) throws(InstallError) -> String {
    var done: [String] = []
    // The membership the operator keeps for starting members; nil with a ConfigMap from
    // before it kept one (its zoo.cfg lists the servers itself).
    let staged = try options.configSource.flatMap { source throws(InstallError) in try readStagedMembership(in: source) }
    let ordinal = options.dataDir != nil || staged != nil ? try resolveOrdinal(explicit: options.ordinal, environment: environment) : nil
    // Every check before any write: a member that is refused changes nothing at all.
    var hasData = false
    if let dataDir = options.dataDir, let ordinal {
        hasData = try existingMyid(dataDir: dataDir, ordinal: ordinal)
        if let staged, let source = options.configSource {
            if hasData { try checkEpoch(dataDir: dataDir, ordinal: ordinal, staged: staged, source: source) }
        } else if let source = options.configSource {
            try checkListed(id: ordinal + 1, ordinal: ordinal, configSource: source)
        }
    }
    if let dataDir = options.dataDir, let ordinal {
        if hasData {
            done.append("myid \(ordinal + 1) already in \(join(dataDir, "myid"))")
        } else {
            done.append(try writeMyid(dataDir: dataDir, ordinal: ordinal, epoch: staged?.config.version))
        }
    }
    if let source = options.configSource, let target = options.configDir {
        if let staged, let ordinal {
            done.append(try stageMembership(staged, ordinal: ordinal, from: source, to: target))
        } else {
            let count = try stageConfig(from: source, to: target)
            done.append("staged \(count) config file\(count == 1 ? "" : "s") into \(target)")
        }
    }
    try makeDirectories(options.directory)
    let binary = try readFile("/proc/self/exe")
    let destination = join(options.directory, installedName)
    try writeFileAtomically(destination, binary, mode: 0o755)
    done.append("installed \(destination)")
    return done.joined(separator: "; ")
}

/// ZooKeeper server ids are 1 to 255, so ordinals (id - 1) are 0 to 254.
let maximumOrdinal = 254

/// The StatefulSet ordinal: explicit flag, else POD_INDEX (downward API of the
/// `apps.kubernetes.io/pod-index` label), else the numeric suffix after the last '-' of the
/// host name's first label (the pod name, also when the host name is fully qualified).
func resolveOrdinal(explicit: Int?, environment: (String) -> String?) throws(InstallError) -> Int {
    if let explicit { return try bounded(explicit, from: "--ordinal \(explicit)") }
    if let text = environment("POD_INDEX"), !text.isEmpty {
        guard let ordinal = Int(text), ordinal >= 0 else {
            throw InstallError("POD_INDEX is '\(sanitizedLine(text, limit: 40))', not a non-negative integer")
        }
        return try bounded(ordinal, from: "POD_INDEX \(ordinal)")
    }
    let host = hostName()
    let podName = host.split(separator: ".", maxSplits: 1).first.map(String.init) ?? host
    if let dash = podName.lastIndex(of: "-"), let ordinal = Int(podName[podName.index(after: dash)...]), ordinal >= 0 {
        return try bounded(ordinal, from: "host name '\(sanitizedLine(host, limit: 80))' (ordinal \(ordinal))")
    }
    throw InstallError("cannot tell this pod's ordinal: no --ordinal, no POD_INDEX, and host name '\(sanitizedLine(host, limit: 80))' has no numeric '-N' suffix")
}

private func bounded(_ ordinal: Int, from source: String) throws(InstallError) -> Int {
    guard ordinal <= maximumOrdinal else {
        throw InstallError("\(source) is out of range: ZooKeeper server ids (ordinal + 1) are 1 to \(maximumOrdinal + 1), so ordinals are 0 to \(maximumOrdinal)")
    }
    return ordinal
}

/// Refuses an id the staged configuration does not list: ZooKeeper would start and never
/// join ("My id N not in the peer list"). Every file named zoo.cfg* counts (a dynamic
/// configuration file holds the server lines); a configuration without server lines
/// (standalone) lists nothing to check against.
func checkListed(id: Int, ordinal: Int, configSource: String) throws(InstallError) {
    var listed: [Int] = []
    for name in try regularFiles(in: configSource) where name.hasPrefix("zoo.cfg") {
        let text = String(decoding: try readFile(join(configSource, name)), as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let entry = line.drop(while: { $0 == " " || $0 == "\t" })
            guard entry.hasPrefix("server."), let equals = entry.firstIndex(where: { $0 == "=" || $0 == ":" }),
                let server = Int(entry[entry.index(entry.startIndex, offsetBy: 7)..<equals].trimmingSuffix(" \t"))
            else { continue }
            listed.append(server)
        }
    }
    guard !listed.isEmpty, !listed.contains(id) else { return }
    let servers = Set(listed).sorted().map(String.init).joined(separator: ", ")
    throw InstallError("refusing to start: this pod is id \(id) (ordinal \(ordinal)) but the configuration in \(configSource) lists servers \(servers)")
}

extension Substring {
    fileprivate func trimmingSuffix(_ characters: String) -> Substring {
        var result = self
        while let last = result.last, characters.contains(last) { result.removeLast() }
        return result
    }
}

/// Whether the data directory already has this member's `myid`; a different (or
/// unreadable) one is refused.
func existingMyid(dataDir: String, ordinal: Int) throws(InstallError) -> Bool {
    let id = ordinal + 1
    let path = join(dataDir, "myid")
    guard let existing = try readFileIfExists(path) else { return false }
    let text = String(decoding: existing, as: UTF8.self)
    let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
    guard trimmed.count == 1, let found = Int(trimmed[0]) else {
        throw InstallError("refusing to start: \(path) holds '\(sanitizedLine(text, limit: 40))', not a server id; this pod is id \(id) (ordinal \(ordinal))")
    }
    guard found == id else {
        throw InstallError("refusing to start: \(path) holds id \(found) but this pod is id \(id) (ordinal \(ordinal)); the data directory belongs to another member")
    }
    return true
}

/// Starts a fresh data directory: `myid`, and with a staged membership the configuration
/// epoch the data begins at (`epochFile`), written first so a directory with a myid always
/// has it.
func writeMyid(dataDir: String, ordinal: Int, epoch: Int64?) throws(InstallError) -> String {
    let id = ordinal + 1
    let path = join(dataDir, "myid")
    try makeDirectories(dataDir)
    if let epoch {
        try writeFileAtomically(join(dataDir, epochFile), Array("\(hexVersion(epoch))\n".utf8), mode: 0o644)
    }
    try writeFileAtomically(path, Array("\(id)\n".utf8), mode: 0o644)
    return "wrote myid \(id)" + (epoch.map { " and configuration epoch \(hexVersion($0))" } ?? "") + " to \(dataDir)"
}

// MARK: - The staged membership

/// In the data directory: the version of the configuration the operator had when the
/// directory was first used (hexadecimal, `0x` first).
let epochFile = "config-epoch"

func hexVersion(_ version: Int64) -> String { "0x" + String(version, radix: 16) }

/// The ConfigMap's membership file, or nil when the ConfigMap has none.
func readStagedMembership(in source: String) throws(InstallError) -> StagedMembership? {
    let path = join(source, membershipFile)
    guard let bytes = try readFileIfExists(path) else { return nil }
    do {
        return try StagedMembership.parse(String(decoding: bytes, as: UTF8.self))
    } catch {
        guard case .malformed(let line, let reason) = error else { throw InstallError("\(path): \(error)") }
        throw InstallError("\(path)\(line > 0 ? ":\(line)" : ""): \(sanitizedLine(reason))")
    }
}

/// The ConfigMap key the operator keeps the membership under (Rendering.membershipKey).
let membershipFile = StagedMembership.fileName

/// Refuses the data of a member a scale-down took out: the staged membership says from which
/// configuration on its server is gone (`left.N`), and a data directory started before that
/// is from this ordinal's earlier life. The operator deletes such a volume before it reuses
/// the ordinal, so meeting it here means something else brought it back. Anything else may
/// start: a listed member's data may lag any amount (ZooKeeper syncs it), a member a leader
/// hand-off took out rejoins with its own data, and a volume made after the scale-down began
/// at or after that configuration.
func checkEpoch(dataDir: String, ordinal: Int, staged: StagedMembership, source: String) throws(InstallError) {
    let id = ordinal + 1
    guard staged.config.server(ordinal: ordinal) == nil, let left = staged.left[id] else { return }
    let path = join(dataDir, epochFile)
    var epoch: Int64 = 0
    if let bytes = try readFileIfExists(path) {
        let text = String(decoding: bytes, as: UTF8.self)
        var digits = Substring(text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).first ?? "")
        if digits.hasPrefix("0x") { digits = digits.dropFirst(2) }
        guard let value = Int64(digits, radix: 16), value >= 0 else {
            throw InstallError("refusing to start: \(path) holds '\(sanitizedLine(text, limit: 40))', not a configuration version")
        }
        epoch = value
    }
    guard epoch < left else { return }
    let began = epoch == 0 ? "before configuration epochs were recorded" : "at configuration \(hexVersion(epoch))"
    throw InstallError("refusing to start: server \(id) (ordinal \(ordinal)) was scaled away at configuration \(hexVersion(left)) (\(join(source, membershipFile))) and the data in \(dataDir) began \(began): a removed member's data must not rejoin; delete this member's volume (the operator does before it reuses an ordinal)")
}

/// Stages the configuration of a member that takes its membership from `staged`: every
/// ConfigMap file but zoo.cfg and the membership file as is, the dynamic configuration file
/// ZooKeeper reads (see `StagedMembership` for its name and contents), and zoo.cfg pointing at it.
func stageMembership(_ staged: StagedMembership, ordinal: Int, from source: String, to target: String) throws(InstallError) -> String {
    let zooCfgPath = join(source, "zoo.cfg")
    let zooCfg = String(decoding: try readFile(zooCfgPath), as: UTF8.self)
    var lines: [Substring] = []
    for (index, line) in zooCfg.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let key = line.drop(while: { $0 == " " || $0 == "\t" }).prefix(while: { $0 != "=" && $0 != " " && $0 != "\t" })
        if key.hasPrefix("server.") || key == "dynamicConfigFile" {
            throw InstallError("\(zooCfgPath):\(index + 1): '\(key)' belongs in \(membershipFile), not in zoo.cfg")
        }
        lines.append(line)
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    let start = staged.start(ordinal: ordinal)
    let dynamicPath = join(target, StagedMembership.dynamicFileName(version: start.version))
    let others = try regularFiles(in: source).filter { $0 != "zoo.cfg" && $0 != membershipFile }
    try makeDirectories(target)
    for name in others.sorted() {
        try writeFileAtomically(join(target, name), try readFile(join(source, name)), mode: 0o644)
    }
    // The file zoo.cfg names first: ZooKeeper never sees a zoo.cfg pointing at nothing.
    try writeFileAtomically(dynamicPath, Array(StagedMembership.dynamicFileText(start.servers).utf8), mode: 0o644)
    let text = lines.joined(separator: "\n") + "\ndynamicConfigFile=\(dynamicPath)\n"
    try writeFileAtomically(join(target, "zoo.cfg"), Array(text.utf8), mode: 0o644)
    let how = start.listed
        ? "server \(ordinal + 1) is in configuration \(hexVersion(start.version))"
        : "server \(ordinal + 1) joins configuration \(hexVersion(staged.config.version)) (staged as version 0)"
    return "staged \(others.count + 2) config files into \(target) (\(start.servers.count) servers; \(how))"
}

/// Copies every regular file (following the ConfigMap's symlinks) from `source` to `target`.
func stageConfig(from source: String, to target: String) throws(InstallError) -> Int {
    let names = try regularFiles(in: source)
    guard !names.isEmpty else { throw InstallError("\(source) holds no regular files to stage") }
    try makeDirectories(target)
    for name in names.sorted() {
        let bytes = try readFile(join(source, name))
        try writeFileAtomically(join(target, name), bytes, mode: 0o644)
    }
    return names.count
}

// MARK: - Small POSIX file helpers (no Foundation in this binary)

/// Names of the regular files (symlinks followed) in a ConfigMap mount.
func regularFiles(in source: String) throws(InstallError) -> [String] {
    guard let dir = opendir(source) else { throw InstallError("cannot read \(source): \(errnoText())") }
    defer { closedir(dir) }
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
    return names
}

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
