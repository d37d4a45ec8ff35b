/// The identity that may reconfigure an ensemble. ZooKeeper lets only a super user (or one the
/// ACL of `/zookeeper/config` grants) run `reconfig`; the alternative, `skipACL=yes`, would
/// switch every ACL off, so members are given a super user's digest instead:
/// `-Dzookeeper.DigestAuthenticationProvider.superDigest=super:<digest>`, where the digest is
/// base64(SHA-1("super:<password>")), and a client that authenticates with `digest
/// super:<password>` may reconfigure.
///
/// The password is a secret: `description` never shows it, and neither does anything that
/// prints a `SuperUser`. The digest is a one-way hash of a random password, so it may appear
/// on a member's command line.
public struct SuperUser: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// ZooKeeper's super user is always called `super`.
    public static let user = "super"
    /// The JVM system property members read the digest from.
    public static let digestProperty = "zookeeper.DigestAuthenticationProvider.superDigest"

    public let password: String

    /// A password needs no particular shape, but a line break or a `:` would not survive the
    /// files and the `user:password` pair it travels in.
    public init(password: String) throws(SuperUserError) {
        guard !password.isEmpty, !password.contains(where: { $0 == "\n" || $0 == "\r" || $0 == ":" }) else {
            throw .invalidPassword
        }
        self.password = password
    }

    /// A new random password: 32 bytes from `generator`, hexadecimal.
    public static func generate<G: RandomNumberGenerator>(using generator: inout G) -> SuperUser {
        var text = ""
        for _ in 0..<32 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text += String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }
        // Hexadecimal never contains a line break or a colon.
        return try! SuperUser(password: text)
    }

    public static func generate() -> SuperUser {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// base64(SHA-1("super:<password>")), as `DigestAuthenticationProvider.generateDigest` makes it.
    public var digest: String { Base64.encode(SHA1.hash(Array("\(Self.user):\(password)".utf8))) }

    /// The JVM option that makes a member accept this super user.
    public var jvmOption: String { "-D\(Self.digestProperty)=\(Self.user):\(digest)" }

    /// What `addauth digest` sends.
    public var credentials: [UInt8] { Array("\(Self.user):\(password)".utf8) }

    public var description: String { "super user (password withheld)" }
    public var debugDescription: String { description }
    /// `dump` and debuggers see no fields either.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

public enum SuperUserError: Error, Equatable, CustomStringConvertible {
    case invalidPassword

    public var description: String {
        "a super-user password must be non-empty, on one line, without ':'"
    }
}

/// SHA-1 (FIPS 180-4), for ZooKeeper's digest scheme only: ZooKeeper fixes the algorithm, and
/// no collision resistance is asked of it here (it hashes a random password).
enum SHA1 {
    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bits = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: padded.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(padded[b]) << 24 | UInt32(padded[b + 1]) << 16 | UInt32(padded[b + 2]) << 8 | UInt32(padded[b + 3])
            }
            for i in 16..<80 { w[i] = rotate(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let f: UInt32, k: UInt32
                switch i {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let t = rotate(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotate(b, 30), a, t)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        return h.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * $0)) } }
    }

    private static func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
}

/// Standard base64 with padding (RFC 4648 §4), as Java's `Base64.getEncoder()` writes it and
/// Kubernetes stores a Secret's data.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

    /// The bytes of padded base64 text; nil when it is not.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        var padding = 0
        for character in text.utf8 {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(character - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(character - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): values.append(62)
            case UInt8(ascii: "/"): values.append(63)
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            if padding > 0 { return nil }
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var bytes: [UInt8] = []
        for start in stride(from: 0, to: values.count, by: 4) {
            let chunk = values[start..<min(start + 4, values.count)]
            let word = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << UInt32(18 - 6 * $1.offset) }
            for i in 0..<(chunk.count - 1) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(16 - 8 * i))) }
        }
        return bytes
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = ""
        for start in stride(from: 0, to: bytes.count, by: 3) {
            let chunk = bytes[start..<min(start + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << UInt32(16 - 8 * $1.offset) }
            for i in 0..<4 {
                out.append(i <= chunk.count ? alphabet[Int(value >> UInt32(18 - 6 * i) & 0x3F)] : "=")
            }
        }
        return out
    }
}
