import Testing
import ZKConfig

@Suite struct ZooCfgTests {
    func entries(_ text: String) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try ZooCfg.parse(text).map { ($0.key, $0.value) })
    }

    @Test func defaultsAndServerLines() throws {
        let members = (0..<3).map { ZooKeeperMember(id: $0 + 1, host: "zk-\($0).zk-hs.ns.svc.cluster.local") }
        let cfg = try entries(ZooCfg.render(settings: ZooKeeperSettings(), members: members))
        #expect(cfg["tickTime"] == "2000")
        #expect(cfg["initLimit"] == "10")
        #expect(cfg["syncLimit"] == "5")
        #expect(cfg["autopurge.snapRetainCount"] == "3")
        #expect(cfg["autopurge.purgeInterval"] == "12")
        #expect(cfg["electionPortBindRetry"] == "0")
        #expect(cfg["quorumListenOnAllIPs"] == "true")
        #expect(cfg["4lw.commands.whitelist"] == "ruok,srvr,mntr,stat,conf,isro")
        #expect(cfg["server.1"] == "zk-0.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181")
        #expect(cfg["server.3"] == "zk-2.zk-hs.ns.svc.cluster.local:2888:3888:participant;2181")
        #expect(cfg["server.4"] == nil)
    }

    @Test func localMembersBindTheirOwnAddress() throws {
        var settings = ZooKeeperSettings()
        settings.quorumListenOnAllIPs = false
        let members = (1...3).map { ZooKeeperMember(id: $0, host: "127.0.0.\($0)", clientPort: 12181, clientAddress: "127.0.0.\($0)") }
        let cfg = try entries(ZooCfg.render(settings: settings, members: members))
        #expect(cfg["server.2"] == "127.0.0.2:2888:3888:participant;127.0.0.2:12181")
        #expect(cfg["quorumListenOnAllIPs"] == "false")
    }

    @Test func serverLinesAreInIdOrderWhateverTheInputOrder() throws {
        let members = [3, 1, 2].map { ZooKeeperMember(id: $0, host: "h\($0)") }
        let text = ZooCfg.render(settings: ZooKeeperSettings(), members: members)
        let ids = try ZooCfg.parse(text).map(\.key).filter { $0.hasPrefix("server.") }
        #expect(ids == ["server.1", "server.2", "server.3"])
    }

    @Test func overridesReallyOverrideAndNewKeysAppend() throws {
        var settings = ZooKeeperSettings()
        settings.overrides = [("syncLimit", "9"), ("snapCount", "5000")]
        let text = ZooCfg.render(settings: settings, members: [ZooKeeperMember(id: 1, host: "h")])
        let parsed = try ZooCfg.parse(text)
        #expect(parsed.filter { $0.key == "syncLimit" }.map(\.value) == ["9"], "one syncLimit line, the override's")
        #expect(parsed.last?.key == "snapCount")
    }

    @Test func requiredFourLetterWordsAreAlwaysWhitelisted() throws {
        var settings = ZooKeeperSettings()
        settings.fourLetterWords = ["cons"]
        let cfg = try entries(ZooCfg.render(settings: settings, members: []))
        #expect(cfg["4lw.commands.whitelist"] == "cons,ruok,srvr,mntr,stat,conf,isro")
    }

    @Test(arguments: [(0, "1\n"), (1, "2\n"), (8, "9\n")])
    func myidIsOrdinalPlusOne(ordinal: Int, expected: String) {
        #expect(ZooCfg.myid(ordinal: ordinal) == expected)
    }

    @Test(arguments: ["dataDir", "dataLogDir", "clientPort", "myid", "dynamicConfigFile", "server.1", "server.12", "group.1", "weight.2",
                      "standaloneEnabled", "reconfigEnabled", "tickTime", "4lw.commands.whitelist"])
    func operatorOwnedKeysAreRefused(_ key: String) {
        #expect(ZooCfg.operatorOwnedKeyReason(key) != nil)
    }

    @Test(arguments: ["snapCount", "globalOutstandingLimit", "preAllocSize", "jute.maxbuffer", "serverCnxnFactory"])
    func ordinaryKeysAreAllowed(_ key: String) {
        #expect(ZooCfg.operatorOwnedKeyReason(key) == nil)
    }

    @Test func parseRejectsGarbageWithLineNumbers() {
        #expect(throws: ZooCfgError.malformedLine(number: 2, text: "nonsense")) { try ZooCfg.parse("a=1\nnonsense\n") }
        #expect(throws: ZooCfgError.duplicateKey(number: 3, key: "a")) { try ZooCfg.parse("a=1\n# c\na = 2\n") }
    }

    @Test func loggingGoesToTheConsoleAtTheRequestedLevel() {
        #expect(ZooKeeperLogging.logback(level: "WARN").contains("<root level=\"WARN\">"))
        #expect(ZooKeeperLogging.logback(level: "WARN").contains("ConsoleAppender"))
        #expect(ZooKeeperLogging.log4j(level: "DEBUG").contains("log4j.rootLogger=DEBUG, CONSOLE"))
    }
}
