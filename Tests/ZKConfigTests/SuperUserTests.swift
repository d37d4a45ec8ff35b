import Testing
@testable import ZKConfig

@Suite struct SuperUserTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// FIPS 180 examples, the empty message and a message whose padding needs a second block.
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (String(repeating: "a", count: 1000), "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
    ])
    func sha1(_ message: String, _ expected: String) {
        #expect(Self.hex(SHA1.hash(Array(message.utf8))) == expected)
    }

    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func base64(_ text: String, _ expected: String) {
        #expect(Base64.encode(Array(text.utf8)) == expected)
    }

    /// The digest ZooKeeper accepts: the client tests run real members with this very value
    /// (ZooKeeperClientTests/EnsembleTests.swift), made by ZooKeeper's own generateDigest.
    @Test func digestMatchesZooKeepers() throws {
        let user = try SuperUser(password: "ensemble-test")
        #expect(user.digest == "sr6qs+XCucCzJXiVIgYSCVOR7aY=")
        #expect(user.jvmOption == "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:sr6qs+XCucCzJXiVIgYSCVOR7aY=")
        #expect(user.credentials == Array("super:ensemble-test".utf8))
    }

    @Test func passwordIsNeverPrinted() throws {
        let user = SuperUser.generate()
        #expect(user.password.count == 64 && user.password.allSatisfy(\.isHexDigit))
        var dumped = ""
        dump(user, to: &dumped)
        for shown in ["\(user)", String(reflecting: user), dumped] { #expect(!shown.contains(user.password), "\(shown)") }
        #expect(SuperUser.generate() != user)
        for bad in ["", "a:b", "line\nbreak"] {
            #expect(throws: SuperUserError.invalidPassword) { try SuperUser(password: bad) }
        }
    }
}
