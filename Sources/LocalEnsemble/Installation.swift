import Foundation

/// Where java and the ZooKeeper jars are on this machine.
public struct ZooKeeperInstallation: Sendable, Equatable {
    public static let mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

    /// Absolute path of the `java` executable.
    public var java: String
    /// Jars and directories, in order; the conf directory is on it so log4j/logback find
    /// their configuration.
    public var classpath: [String]
    /// JVM options every member gets (before the per-member ones).
    public var jvmOptions: [String]

    public init(java: String, classpath: [String], jvmOptions: [String] = []) {
        self.java = java
        self.classpath = classpath
        self.jvmOptions = jvmOptions
    }

    /// Finds ZooKeeper: `ZOOKEEPER_HOME` (a release tarball: `lib/*.jar`, `zookeeper-*.jar`,
    /// `conf/`) when set, else the Debian `zookeeper` package layout under `root`. Java comes
    /// from `JAVA_HOME/bin/java`, else the first `java` on `PATH`.
    /// `root` exists so tests can point at an empty tree; real callers leave it at "/".
    public static func locate(
        environment: [String: String] = ProcessInfo.processInfo.environment, root: String = "/"
    ) throws(LocalEnsembleError) -> ZooKeeperInstallation {
        let files = FileManager.default
        let classpath: [String]
        var jvmOptions: [String] = []
        if let home = environment["ZOOKEEPER_HOME"], !home.isEmpty {
            let lib = (home as NSString).appendingPathComponent("lib")
            let libJars = ((try? files.contentsOfDirectory(atPath: lib)) ?? [])
                .filter { $0.hasSuffix(".jar") }.sorted().map { (lib as NSString).appendingPathComponent($0) }
            let topJars = ((try? files.contentsOfDirectory(atPath: home)) ?? [])
                .filter { $0.hasPrefix("zookeeper-") && $0.hasSuffix(".jar") }.sorted()
                .map { (home as NSString).appendingPathComponent($0) }
            let jars = topJars + libJars
            guard jars.contains(where: { ($0 as NSString).lastPathComponent.hasPrefix("zookeeper-") }) else {
                throw .installationNotFound(
                    "ZOOKEEPER_HOME=\(home) contains no zookeeper-*.jar (looked in \(home) and \(lib)); "
                        + "point it at an unpacked apache-zookeeper-*-bin release, or unset it and run `apt-get install zookeeper`")
            }
            classpath = [(home as NSString).appendingPathComponent("conf")] + jars
        } else {
            func path(_ p: String) -> String { (root as NSString).appendingPathComponent(p) }
            let jar = path("usr/share/java/zookeeper.jar")
            guard files.isReadableFile(atPath: jar) else {
                throw .installationNotFound(
                    "ZooKeeper is not installed: \(jar) does not exist and ZOOKEEPER_HOME is not set; "
                        + "run `apt-get install zookeeper` or set ZOOKEEPER_HOME to an unpacked apache-zookeeper-*-bin release")
            }
            // The Debian jar's manifest lists its dependencies but no slf4j binding; without
            // one the server logs nothing, so add the log4j binding the package depends on.
            var entries = [path("etc/zookeeper/conf"), jar]
            for extra in ["usr/share/java/slf4j-log4j12.jar", "usr/share/java/log4j-1.2.jar"] where files.isReadableFile(atPath: path(extra)) {
                entries.append(path(extra))
            }
            classpath = entries
            jvmOptions = ["-Dzookeeper.root.logger=INFO,CONSOLE", "-Dzookeeper.console.threshold=INFO"]
        }
        return ZooKeeperInstallation(java: try locateJava(environment: environment), classpath: classpath, jvmOptions: jvmOptions)
    }

    static func locateJava(environment: [String: String]) throws(LocalEnsembleError) -> String {
        let files = FileManager.default
        if let javaHome = environment["JAVA_HOME"], !javaHome.isEmpty {
            let java = (javaHome as NSString).appendingPathComponent("bin/java")
            guard files.isExecutableFile(atPath: java) else {
                throw .installationNotFound("JAVA_HOME=\(javaHome) has no executable bin/java; fix JAVA_HOME or unset it to use java from PATH")
            }
            return java
        }
        for dir in (environment["PATH"] ?? "").split(separator: ":") where !dir.isEmpty {
            let java = (String(dir) as NSString).appendingPathComponent("java")
            if files.isExecutableFile(atPath: java) { return java }
        }
        throw .installationNotFound(
            "no java found: JAVA_HOME is not set and no java is on PATH; run `apt-get install zookeeper` (it pulls in a JRE) or set JAVA_HOME")
    }
}
