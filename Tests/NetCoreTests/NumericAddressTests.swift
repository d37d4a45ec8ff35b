import NetCore
import Testing

@Suite struct NumericAddressTests {
    @Test(arguments: ["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "::ffff:127.0.0.1"])
    func literals(_ host: String) { #expect(isNumericAddress(host)) }

    @Test(arguments: ["localhost", "zk-0.zk.default.svc", "", "127.0.0", "1.2.3.4.5", "[::1]", "300.1.1.1"])
    func names(_ host: String) { #expect(!isNumericAddress(host)) }

    /// A literal connects without name resolution; a refused port proves the path was taken.
    @Test func literalConnectReportsRefusal() {
        #expect(throws: NetError.self) {
            _ = try TCPConnection.connect(host: "127.0.0.1", port: 1, deadline: .after(seconds: 2))
        }
    }
}
