import Testing
@testable import ZooKeeperClient

private func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

@Suite("Jute codec")
struct CodecTests {
    @Test func primitivesRoundTrip() throws {
        var w = JuteWriter()
        w.writeInt(-2); w.writeLong(Int64.min); w.writeBool(true); w.writeBuffer(nil); w.writeBuffer([])
        w.writeString("zk/ü"); w.writeString(nil); w.writeStringVector(["a", "bc"])
        var r = JuteReader(w.bytes)
        #expect(try r.readInt() == -2)
        #expect(try r.readLong() == Int64.min)
        #expect(try r.readBool() == true)
        #expect(try r.readBuffer() == nil)
        #expect(try r.readBuffer() == [])
        #expect(try r.readString() == "zk/ü")
        #expect(try r.readString() == nil)
        #expect(try r.readStringVector() == ["a", "bc"])
        #expect(r.remaining == 0)
    }

    @Test func integersAreBigEndian() {
        var w = JuteWriter()
        w.writeInt(0x0102_0304); w.writeLong(0x0102_0304_0506_0708); w.writeInt(-1)
        #expect(w.bytes == hex("01020304 0102030405060708 ffffffff"))
    }

    // Layout per zookeeper.jute ConnectRequest, plus the trailing readOnly byte.
    @Test func connectRequestLayout() {
        let request = ConnectRequest(lastZxidSeen: 0x1_0000_0002, timeoutMilliseconds: 10_000, sessionID: 0x77,
                                     password: [UInt8](repeating: 0xAB, count: 16), readOnly: false)
        let expected = hex("""
            00000000 0000000100000002 00002710 0000000000000077
            00000010 abababababababababababababababab 00
            """)
        #expect(request.juteBytes == expected)
        #expect(Frame.encode(request.juteBytes) == hex("0000002d") + expected)
    }

    @Test func connectResponseWithAndWithoutReadOnlyFlag() throws {
        let response = ConnectResponse(timeoutMilliseconds: 6000, sessionID: -5, password: [1, 2], readOnly: true)
        var r = JuteReader(response.juteBytes)
        #expect(try r.read(ConnectResponse.self) == response)
        // Old servers stop after the password.
        var old = JuteReader(hex("00000000 00001770 0000000000000009 00000000"))
        let decoded = try old.read(ConnectResponse.self)
        #expect(decoded.timeoutMilliseconds == 6000 && decoded.sessionID == 9 && decoded.password == [] && !decoded.readOnly)
    }

    @Test func getDataRequestFrame() {
        #expect(ZooKeeperRequest.getData(path: "/a", watch: false).frame(xid: 1)
            == hex("0000000f 00000001 00000004 00000002 2f61 00"))
    }

    @Test func createRequestFrameWithOpenACL() {
        let frame = ZooKeeperRequest.create(path: "/n", data: [1, 2], acl: ACL.openUnsafe, mode: .ephemeral).frame(xid: 7)
        let body = hex("""
            00000007 00000001 00000002 2f6e 00000002 0102
            00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000001
            """)
        #expect(frame == Frame.encode(body))
    }

    @Test(arguments: [(CreateMode.persistent, Int32(0)), (.ephemeral, 1), (.persistentSequential, 2), (.ephemeralSequential, 3)])
    func createModeFlags(mode: CreateMode, flags: Int32) {
        #expect(mode.flags == flags)
        #expect(CreateMode(ephemeral: flags & 1 != 0, sequential: flags & 2 != 0) == mode)
    }

    @Test func specialFrames() {
        #expect(ZooKeeperRequest.ping.frame(xid: SpecialXid.ping) == hex("00000008 fffffffe 0000000b"))
        #expect(ZooKeeperRequest.auth(scheme: "digest", credentials: Array("u:p".utf8)).frame(xid: SpecialXid.auth)
            == Frame.encode(hex("fffffffc 00000064 00000000 00000006 646967657374 00000003 753a70")))
        #expect(ZooKeeperRequest.closeSession.frame(xid: 3) == hex("00000008 00000003 fffffff5"))
    }

    @Test func setDataDeleteSyncAndChildrenFrames() {
        #expect(ZooKeeperRequest.setData(path: "/x", data: [9], version: 4).frame(xid: 2)
            == Frame.encode(hex("00000002 00000005 00000002 2f78 00000001 09 00000004")))
        #expect(ZooKeeperRequest.delete(path: "/x", version: -1).frame(xid: 2)
            == Frame.encode(hex("00000002 00000002 00000002 2f78 ffffffff")))
        #expect(ZooKeeperRequest.sync(path: "/").frame(xid: 5) == Frame.encode(hex("00000005 00000009 00000001 2f")))
        #expect(ZooKeeperRequest.getChildren(path: "/", watch: true).frame(xid: 6)
            == Frame.encode(hex("00000006 00000008 00000001 2f 01")))
        #expect(ZooKeeperRequest.exists(path: "/", watch: false).frame(xid: 6)
            == Frame.encode(hex("00000006 00000003 00000001 2f 00")))
    }

    // Incremental form: joining and leaving set, newMembers null.
    @Test func reconfigFrame() {
        #expect(ZooKeeperRequest.reconfig(joining: nil, leaving: "3", fromConfig: 0x1_0000_0000).frame(xid: 4)
            == Frame.encode(hex("00000004 00000010 ffffffff 00000001 33 ffffffff 0000000100000000")))
    }

    @Test func statAndGetDataResponseRoundTrip() throws {
        let stat = Stat(czxid: 1, mzxid: 2, ctime: 3, mtime: 4, version: 5, cversion: 6, aversion: 7,
                        ephemeralOwner: 8, dataLength: 9, numChildren: 10, pzxid: 11)
        #expect(stat.juteBytes.count == 68)
        let response = GetDataResponse(data: Array(0...255), stat: stat)
        var r = JuteReader(response.juteBytes)
        #expect(try r.read(GetDataResponse.self) == response)
    }

    @Test func replyHeaderAndWatchEvent() throws {
        var r = JuteReader(hex("ffffffff 0000000000000010 00000000  00000003 00000003 00000002 2f61"))
        #expect(try r.read(ReplyHeader.self) == ReplyHeader(xid: -1, zxid: 16, err: 0))
        #expect(try r.read(WatchEvent.self) == WatchEvent(kind: .nodeDataChanged, state: 3, path: "/a"))
    }

    @Test func truncatedInputIsAProtocolViolation() {
        let full = Stat(version: 1).juteBytes
        for cut in [0, 1, 7, 40, 67] {
            var r = JuteReader(Array(full.prefix(cut)))
            #expect(throws: ZooKeeperError.self) { try r.read(Stat.self) }
        }
        var r = JuteReader(hex("00000010 0102"))
        #expect { try r.readBuffer() } throws: { ($0 as? ZooKeeperError).map { if case .protocolViolation = $0 { true } else { false } } ?? false }
    }

    @Test func garbageLengthsAreRejected() {
        var negative = JuteReader(hex("fffffff0"))
        #expect(throws: ZooKeeperError.self) { try negative.readBuffer() }
        // A vector count that cannot fit must not allocate.
        var hugeVector = JuteReader(hex("7fffffff 00000001 61"))
        #expect(throws: ZooKeeperError.self) { try hugeVector.readStringVector() }
        var badBool = JuteReader([7])
        #expect(throws: ZooKeeperError.self) { try badBool.readBool() }
        var badUTF8 = JuteReader(hex("00000002 c328"))
        #expect(throws: ZooKeeperError.self) { try badUTF8.readString() }
    }

    @Test func frameDecoderSplitsAndReassembles() throws {
        var decoder = FrameDecoder(maxFrameLength: 100)
        let stream = Frame.encode([1, 2, 3]) + Frame.encode([]) + Frame.encode([4])
        for byte in stream.prefix(5) { decoder.append([byte]) }
        #expect(try decoder.nextFrame() == nil)
        decoder.append(Array(stream.dropFirst(5)))
        #expect(try decoder.nextFrame() == [1, 2, 3])
        #expect(try decoder.nextFrame() == [])
        #expect(try decoder.nextFrame() == [4])
        #expect(try decoder.nextFrame() == nil)
        #expect(decoder.bufferedCount == 0)
    }

    @Test func frameDecoderRejectsOversizedAndNegativeLengths() {
        var oversized = FrameDecoder(maxFrameLength: 100)
        oversized.append(hex("00000065"))
        #expect(throws: ZooKeeperError.protocolViolation("frame length 101 exceeds the limit of 100 bytes")) { try oversized.nextFrame() }
        var negative = FrameDecoder(maxFrameLength: 100)
        negative.append(hex("80000000"))
        #expect(throws: ZooKeeperError.self) { try negative.nextFrame() }
    }

    @Test func oversizedFrameIsSkippedAndTheStreamStaysInStep() throws {
        // A 200-byte frame (limit 100) for xid 7, then a 1-byte frame.
        let big = hex("000000c8 00000007") + [UInt8](repeating: 0xEE, count: 196)
        let small = hex("00000001 2a")
        // Fed in pieces: the xid is known before the frame has arrived.
        var decoder = FrameDecoder(maxFrameLength: 100)
        decoder.append(Array(big.prefix(6)))
        #expect(try decoder.next() == nil)
        decoder.append(Array(big[6..<50]))
        #expect(try decoder.next() == .oversized(xid: 7, length: 200))
        #expect(try decoder.next() == nil)
        decoder.append(Array(big[50...]) + small)
        #expect(try decoder.next() == .frame([0x2a]))
        #expect(decoder.bufferedCount == 0)
        // All at once.
        var whole = FrameDecoder(maxFrameLength: 100)
        whole.append(big + small)
        #expect(try whole.next() == .oversized(xid: 7, length: 200))
        #expect(try whole.next() == .frame([0x2a]))
        #expect(try whole.next() == nil)
    }

    @Test func errorCodesMapBothWays() {
        #expect(ZooKeeperError(code: -101) == .noNode)
        #expect(ZooKeeperError(code: -103) == .badVersion)
        #expect(ZooKeeperError(code: -13) == .newConfigNoQuorum)
        #expect(ZooKeeperError(code: -14) == .reconfigInProgress)
        #expect(ZooKeeperError(code: -999) == .unknown(code: -999))
        #expect(ZooKeeperError.sessionExpired.code == -112)
        #expect(ZooKeeperError.unknown(code: -999).code == -999)
        #expect(ZooKeeperError.timedOut(operation: "x", sent: true).code == nil)
        for code in Int32(-130)...0 where code != 0 {
            #expect(ZooKeeperError(code: code).code == code)
        }
    }

    @Test(arguments: ["a", "/a/", "/a//b", "/a/./b", "/..", "/a\u{0}"])
    func invalidPathsAreRejected(path: String) {
        #expect(throws: ZooKeeperError.self) { try validatePath(path) }
    }

    @Test func validPaths() throws {
        try validatePath("/")
        try validatePath("/a/b-c.d/ü")
        try validatePath("/queue/", sequential: true)
    }

    @Test func clusterConfigParse() throws {
        let text = "server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181\nserver.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nversion=10000000a"
        let config = try ClusterConfig.parse(Array(text.utf8))
        #expect(config.version == 0x1_0000_000a)
        #expect(config.servers.map(\.id) == [1, 2])
        #expect(config.servers[0].line == "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181")
        #expect(throws: ZooKeeperError.self) { try ClusterConfig.parse(Array("version=xyz".utf8)) }
    }

    @Test func credentialsNeverPrintThePassword() {
        let credentials = ZooKeeperClient.SessionCredentials(id: 0x1234, password: Array("secret".utf8))
        #expect(credentials.description == "session 0x1234")
    }

    // Layout per zookeeper.jute SetWatches: relativeZxid, then dataWatches, existWatches,
    // childWatches as vectors of ustring; sent with xid -8 and opcode 101.
    @Test func setWatchesLayout() {
        let frame = ZooKeeperRequest.setWatches(relativeZxid: 0x1_0000_0005, data: ["/a"], exist: [], child: ["/b", "/c"])
            .frame(xid: SpecialXid.setWatches)
        let expected = hex("""
            0000002e fffffff8 00000065 0000000100000005
            00000001 00000002 2f61
            00000000
            00000002 00000002 2f62 00000002 2f63
            """)
        #expect(frame == expected)
    }

    @Test func watchTableFollowsRepliesAndNotifications() {
        var table = WatchTable()
        table.armed(by: .data("/d"), replyError: 0)
        table.armed(by: .data("/gone"), replyError: ZooKeeperError.noNode.code!)     // no node: no watch
        table.armed(by: .exists("/e"), replyError: ZooKeeperError.noNode.code!)      // fires on creation
        table.armed(by: .exists("/x"), replyError: 0)                                // exists: a data watch
        table.armed(by: .children("/c"), replyError: 0)
        table.armed(by: .children("/denied"), replyError: ZooKeeperError.noAuth.code!)
        #expect(table.data == ["/d", "/x"] && table.exist == ["/e"] && table.child == ["/c"])

        table.fired(WatchEvent(kind: .nodeCreated, state: KeeperState.syncConnected, path: "/e"))
        table.fired(WatchEvent(kind: .nodeDataChanged, state: KeeperState.syncConnected, path: "/d"))
        #expect(table.data == ["/x"] && table.exist.isEmpty && table.child == ["/c"])
        // A deletion fires data and child watches alike.
        table.armed(by: .data("/c"), replyError: 0)
        table.fired(WatchEvent(kind: .nodeDeleted, state: KeeperState.syncConnected, path: "/c"))
        #expect(table.data == ["/x"] && table.child.isEmpty)
        // Session events fire nothing.
        table.fired(WatchEvent(kind: .none, state: KeeperState.disconnected, path: ""))
        #expect(table.setWatchesRequests(relativeZxid: 9) == [.setWatches(relativeZxid: 9, data: ["/x"], exist: [], child: [])])
        table.fired(WatchEvent(kind: .nodeDataChanged, state: KeeperState.syncConnected, path: "/x"))
        #expect(table.isEmpty && table.setWatchesRequests(relativeZxid: 9).isEmpty)
    }

    @Test func setWatchesAreSplitToStayUnderTheServersBuffer() {
        var table = WatchTable()
        let paths = (0..<3000).map { "/watched/node-\($0)-" + String(repeating: "p", count: 100) }
        for path in paths { table.armed(by: .data(path), replyError: 0) }
        for path in paths.prefix(500) { table.armed(by: .children(path), replyError: 0) }
        let requests = table.setWatchesRequests(relativeZxid: 1)
        #expect(requests.count > 1)
        var data: [String] = [], child: [String] = []
        for request in requests {
            guard case .setWatches(1, let d, let e, let c) = request else { Issue.record("not SetWatches: \(request)"); continue }
            #expect(e.isEmpty)
            data += d
            child += c
            // Each frame far below jute.maxbuffer (1 MiB).
            #expect(request.frame(xid: SpecialXid.setWatches).count < 160 * 1024)
        }
        #expect(Set(data) == Set(paths) && data.count == paths.count)
        #expect(Set(child) == Set(paths.prefix(500)) && child.count == 500)
    }

    /// Which failures leave a write's outcome unknown: the rule callers of reconfig rely on.
    @Test(arguments: [
        (ZooKeeperError.connectionLoss, true), (.timedOut(operation: "x", sent: true), true),
        (.protocolViolation("garbage"), true), (.timedOut(operation: "x", sent: false), false),
        (.replyTooLarge(operation: "get /big", length: 2_000_000, limit: 1_000_000), true),
        (.badVersion, false), (.newConfigNoQuorum, false), (.reconfigInProgress, false), (.noAuth, false),
        (.closed, false), (.sessionExpired, false), (.noServerAvailable("x"), false), (.invalidArgument("x"), false),
    ])
    func mayHaveBeenApplied(_ error: ZooKeeperError, _ unknown: Bool) {
        #expect(error.mayHaveBeenApplied == unknown)
    }
}
