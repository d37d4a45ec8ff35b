import Foundation
import NetCore
import Testing
import ZooKeeperTestSupport
@testable import ZKAdmin

/// No real Cassandra can be installed on this machine (no package, no network registry for
/// it), so these tests use an in-test server that speaks the CQL native protocol v4 frames
/// byte for byte as the specification (native_protocol_v4.spec) lays them out.
@Suite struct CQLHandshakeTests {
    /// Frame encoder written independently of the decoder under test.
    enum Frame {
        static func short(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        static func int(_ value: UInt32) -> [UInt8] {
            [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
        }
        static func string(_ text: String) -> [UInt8] { short(text.utf8.count) + Array(text.utf8) }
        static func stringMultimap(_ entries: [(String, [String])]) -> [UInt8] {
            var bytes = short(entries.count)
            for (key, values) in entries {
                bytes += string(key) + short(values.count)
                for value in values { bytes += string(value) }
            }
            return bytes
        }
        static func response(version: UInt8 = 0x84, flags: UInt8 = 0, stream: Int = 0, opcode: UInt8, body: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
            [version, flags] + short(stream) + [opcode] + int(UInt32(declaredLength ?? body.count)) + body
        }
    }

    static let supportedEntries: [(String, [String])] = [
        ("PROTOCOL_VERSIONS", ["3/v3", "4/v4", "5/v5-beta"]),
        ("COMPRESSION", ["snappy", "lz4"]),
        ("CQL_VERSION", ["3.4.5"]),
    ]

    /// The exact request bytes anchors.md fixes: version 4 request, flags 0, stream 0,
    /// opcode OPTIONS, empty body.
    static let expectedRequest: [UInt8] = [0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00]

    static func server(replying reply: [UInt8], thenClose: Bool = true) throws -> TestPeer {
        try TestPeer { connection in
            let request = connection.read(9)
            guard request == expectedRequest else { return }  // anything else: close silently
            connection.write(reply)
            if !thenClose { connection.holdUntilClosed() }
        }
    }

    @Test func requestBytesAreExactlyOptionsV4() {
        #expect(CQLHandshake.optionsRequest == Self.expectedRequest)
    }

    @Test func supportedReplyDecodes() throws {
        let body = Frame.stringMultimap(Self.supportedEntries)
        let peer = try Self.server(replying: Frame.response(opcode: 0x06, body: body), thenClose: false)
        defer { peer.stop() }
        let supported = try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        #expect(supported.options.map(\.key) == ["PROTOCOL_VERSIONS", "COMPRESSION", "CQL_VERSION"])
        #expect(supported["CQL_VERSION"] == ["3.4.5"])
        #expect(supported["COMPRESSION"] == ["snappy", "lz4"])
        #expect(supported["PROTOCOL_VERSIONS"] == ["3/v3", "4/v4", "5/v5-beta"])
        #expect(peer.requests == [Self.expectedRequest])
    }

    @Test func errorReplyCarriesCodeAndMessage() throws {
        let body = Frame.int(0x000A) + Frame.string("Invalid or unsupported protocol version (4)")
        let peer = try Self.server(replying: Frame.response(opcode: 0x00, body: body))
        defer { peer.stop() }
        #expect(throws: CQLError.server(code: 0x000A, message: "Invalid or unsupported protocol version (4)")) {
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        }
    }

    @Test(arguments: [UInt8(0x85), 0x83, 0x04, 0x00])
    func wrongVersionByte(_ version: UInt8) throws {
        let reply = Frame.response(version: version, opcode: 0x06, body: Frame.stringMultimap(Self.supportedEntries))
        let peer = try Self.server(replying: reply)
        defer { peer.stop() }
        #expect(throws: CQLError.unexpectedVersion(version)) {
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        }
    }

    @Test func truncatedBody() throws {
        let body = Frame.stringMultimap(Self.supportedEntries)
        let reply = Array(Frame.response(opcode: 0x06, body: body).prefix(9 + 10))
        let peer = try Self.server(replying: reply)
        defer { peer.stop() }
        #expect(throws: CQLError.malformed("connection closed after 10 of \(body.count) body bytes")) {
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        }
    }

    @Test func truncatedHeader() throws {
        let peer = try Self.server(replying: [0x84, 0x00, 0x00])
        defer { peer.stop() }
        #expect(throws: CQLError.malformed("connection closed after 3 of 9 header bytes")) {
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        }
    }

    @Test func bodyLengthBeyondTheCapIsRefusedWithoutReadingIt() throws {
        let reply = Frame.response(opcode: 0x06, body: [], declaredLength: 50_000_000)
        let peer = try Self.server(replying: reply, thenClose: false)
        defer { peer.stop() }
        #expect(throws: CQLError.bodyTooLarge(length: 50_000_000, limit: CQLHandshake.bodyLimit)) {
            try CQLHandshake.options(host: "127.0.0.1", port: peer.port, deadline: .after(seconds: 3))
        }
    }

    // Pure decoding cases, no sockets.

    @Test func multimapWithTrailingBytesIsMalformed() throws {
        let header = try CQLHandshake.parseHeader(Array(Frame.response(opcode: 0x06, body: [0, 0, 7]).prefix(9)))
        #expect(throws: CQLError.malformed("1 bytes after the string multimap")) {
            try CQLHandshake.interpret(header: header, body: [0, 0, 7])
        }
    }

    @Test func stringRunningPastTheBodyIsMalformed() throws {
        let body: [UInt8] = [0, 1, 0, 200, 65]
        let header = try CQLHandshake.parseHeader(Array(Frame.response(opcode: 0x06, body: body).prefix(9)))
        #expect(throws: CQLError.malformed("needs 200 more bytes at offset 4, body has 1")) {
            try CQLHandshake.interpret(header: header, body: body)
        }
    }

    @Test func otherOpcodeIsReported() throws {
        let header = try CQLHandshake.parseHeader(Frame.response(opcode: 0x02, body: []))  // READY
        #expect(throws: CQLError.unexpectedOpcode(0x02)) { try CQLHandshake.interpret(header: header, body: []) }
    }

    @Test func warningsFlagIsSkipped() throws {
        let body = Frame.short(1) + Frame.string("deprecated") + Frame.stringMultimap([("CQL_VERSION", ["3.4.7"])])
        let header = try CQLHandshake.parseHeader(Array(Frame.response(flags: 0x08, opcode: 0x06, body: body).prefix(9)))
        #expect(try CQLHandshake.interpret(header: header, body: body)["CQL_VERSION"] == ["3.4.7"])
    }

    @Test func headerChecks() {
        #expect(throws: CQLError.malformed("reply on stream 7, request was on stream 0")) {
            try CQLHandshake.parseHeader(Frame.response(stream: 7, opcode: 0x06, body: []))
        }
        #expect(throws: CQLError.malformed("negative body length")) {
            try CQLHandshake.parseHeader(Frame.response(opcode: 0x06, body: [], declaredLength: 0x8000_0000))
        }
        #expect(throws: CQLError.malformed("compressed body, but no compression was negotiated")) {
            let header = try CQLHandshake.parseHeader(Frame.response(flags: 0x01, opcode: 0x06, body: []))
            _ = try CQLHandshake.interpret(header: header, body: [])
        }
    }

    /// The built probe against the same doubles: exit status and the one stderr line.
    @Test func probeBinary() throws {
        let probe = try builtProduct("ensemble-probe")
        let good = try Self.server(replying: Frame.response(opcode: 0x06, body: Frame.stringMultimap(Self.supportedEntries)), thenClose: false)
        defer { good.stop() }
        let ok = try runProcess(probe, ["cql-ready", "--port", String(good.port)])
        #expect(ok.status == 0)
        #expect(ok.stderr == "ensemble-probe: ready: SUPPORTED from 127.0.0.1:\(good.port), CQL_VERSION 3.4.5\n")

        let error = try Self.server(replying: Frame.response(opcode: 0x00, body: Frame.int(0x1001) + Frame.string("Cannot achieve consistency")))
        defer { error.stop() }
        let failed = try runProcess(probe, ["cql-ready", "--port", String(error.port)])
        #expect(failed.status == 1)
        #expect(failed.stderr == "ensemble-probe: not ready: CQL OPTIONS on 127.0.0.1:\(error.port): server answered ERROR 0x1001: Cannot achieve consistency\n")
    }
}
