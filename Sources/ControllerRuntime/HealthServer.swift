import Dispatch
import NetCore
import Synchronization

/// `/healthz`, `/readyz` and `/metrics` over plain HTTP/1.1, one short request per
/// connection, on NetCore sockets: small enough that no HTTP framework earns its build time.
/// Every read and write is bounded, so a stuck scraper costs at most `requestTimeout`.
public struct HealthServer: Sendable {
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public let listener: TCPListener
    public var requestTimeout: Double = 2
    let handler: @Sendable (String) -> Response

    /// Binds now, so a taken port fails at start-up with a clear error.
    public init(bindAddress: String, handler: @escaping @Sendable (_ path: String) -> Response) throws(NetError) {
        let (host, port) = try Self.parseBindAddress(bindAddress)
        listener = try TCPListener.bind(host: host, port: port)
        self.handler = handler
    }

    /// ":8080" (all addresses), "127.0.0.1:8080", "[::1]:8080".
    public static func parseBindAddress(_ text: String) throws(NetError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .invalidAddress("'\(text)': expected HOST:PORT or :PORT with a port between 0 and 65535")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// The standard endpoints: health always answers, readiness and metrics from closures.
    public static func standardHandler(ready: @escaping @Sendable () -> (Bool, String), metrics: @escaping @Sendable () -> String)
        -> @Sendable (String) -> Response
    {
        { path in
            switch path {
            case "/healthz", "/livez": return Response(status: 200, body: "ok\n")
            case "/readyz":
                let (isReady, why) = ready()
                return Response(status: isReady ? 200 : 503, body: why + "\n")
            case "/metrics": return Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics())
            default: return Response(status: 404, body: "not found: \(path)\n")
            }
        }
    }

    /// Serves until the task is cancelled. The accept loop runs on its own thread: sockets
    /// here block (bounded), which the cooperative pool must never do.
    public func run() async {
        let stop = Atomic<Bool>(false)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let server = self
                DispatchQueue(label: "health-server").async {
                    while !stop.load(ordering: .relaxed) {
                        guard let connection = try? server.listener.accept(deadline: .after(seconds: 0.25)) else { continue }
                        server.serve(connection)
                    }
                    server.listener.close()
                    done.resume()
                }
            }
        } onCancel: {
            stop.store(true, ordering: .relaxed)
        }
    }

    func serve(_ connection: TCPConnection) {
        defer { connection.close() }
        let deadline = Deadline.after(seconds: requestTimeout)
        var request: [UInt8] = []
        let end: [UInt8] = [13, 10, 13, 10]
        do throws(NetError) {
            while !request.ends(with: end) && request.count < 8192 {
                let chunk = try connection.readSome(max: 8192 - request.count, deadline: deadline)
                if chunk.isEmpty { break }
                request += chunk
            }
            let response = respond(to: String(decoding: request, as: UTF8.self))
            let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][response.status] ?? "Status"
            let body = Array(response.body.utf8)
            let head = "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            try connection.writeAll(Array(head.utf8) + body, deadline: deadline)
        } catch {
            // A client that went away or stalled: nothing to answer.
        }
    }

    func respond(to request: String) -> Response {
        let line = request.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return Response(status: 400, body: "bad request\n") }
        guard parts[0] == "GET" || parts[0] == "HEAD" else { return Response(status: 405, body: "only GET\n") }
        let target = parts[1]
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? String(target)
        var response = handler(path)
        if parts[0] == "HEAD" { response.body = "" }
        return response
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix) }
}
