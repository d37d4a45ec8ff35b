import CCurl
import Foundation
import Synchronization

// The HTTP layer: one libcurl multi handle driven by one thread of our own.
//
// Why: Swift's cooperative pool has one thread per core (two here). A blocking
// curl_easy_perform there would stall every task; so callers only queue a transfer and
// suspend, and the I/O thread runs all transfers together (curl_multi_poll), resuming each
// caller's continuation when its answer is complete. The multi handle keeps a connection
// cache, so thousands of requests reuse a few TLS connections (HTTP/2 multiplexes them over
// one when the server offers it) instead of a handshake each.

/// TLS material for one request. Part of libcurl's connection-reuse key, so a rotated
/// client certificate opens a new connection instead of reusing one made with the old.
struct TLSSettings: Sendable, Equatable {
    var certificateAuthority: PEMSource?
    var clientCertificate: PEMSource?
    var clientKey: PEMSource?
}

struct HTTPRequest: Sendable {
    var method: String
    var url: String
    /// Complete header lines, "Name: value".
    var headers: [String]
    var body: [UInt8]?
    var timeout: Duration
    var connectTimeout: Duration
    var tls: TLSSettings
    var userAgent: String
}

struct HTTPResponse: Sendable {
    var status: Int
    var contentType: String?
    var body: [UInt8]
}

enum TransferFailure: Error {
    case curl(code: Int, message: String)
    case timedOut
    case tooLarge(limit: Int)
    case cancelled
    case shutDown
}

/// Receives a streamed answer on the I/O thread. Implementations must not block.
protocol StreamHandler: AnyObject, Sendable {
    /// Headers complete: the final status. Called once, before any `received`.
    func opened(status: Int)
    /// Body bytes of a 2xx answer, as they arrive.
    func received(_ bytes: UnsafeRawBufferPointer)
    /// The transfer ended: the buffered body of a non-2xx answer, or why it failed.
    func finished(_ result: Result<HTTPResponse, TransferFailure>)
}

/// Owns the I/O thread; stopping it when the last client reference goes.
final class Transport: Sendable {
    private let core: TransportCore

    init(maxResponseBytes: Int) {
        core = TransportCore(maxResponseBytes: maxResponseBytes)
        let core = self.core
        let thread = Thread { core.run() }
        thread.name = "kubernetes-client-io"
        thread.start()
    }

    deinit { core.stop() }

    /// Sends a request and returns the complete answer; cancelling the task aborts it.
    func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        let box = TransferBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, Error>) in
                let transfer = Transfer(id: core.nextID(), request: request, sink: .buffered({ result in
                    continuation.resume(with: result.mapError { $0 as Error })
                }))
                box.set(transfer)
                core.submit(transfer)
            }
        } onCancel: {
            if let transfer = box.get() { core.cancel(transfer) }
        }
    }

    /// Starts a streamed request; the returned transfer is what `cancel` takes.
    func stream(_ request: HTTPRequest, handler: any StreamHandler) -> Transfer {
        let transfer = Transfer(id: core.nextID(), request: request, sink: .streaming(handler))
        core.submit(transfer)
        return transfer
    }

    /// Aborts a transfer: it finishes with `.cancelled` unless it already finished.
    func cancel(_ transfer: Transfer) { core.cancel(transfer) }
}

/// libcurl must be initialised once, before any other thread uses it.
private let curlGlobalInit: Void = {
    let code = curl_global_init(Int(CURL_GLOBAL_ALL))
    precondition(code == CURLE_OK, "curl_global_init failed: \(code)")
}()

/// Hands the transfer to a cancellation handler that may run before it exists.
private final class TransferBox: Sendable {
    private let transfer = Mutex<Transfer?>(nil)
    func set(_ value: Transfer) {
        transfer.withLock { $0 = value }
    }
    func get() -> Transfer? { transfer.withLock { $0 } }
}

final class Transfer: @unchecked Sendable {
    enum Sink {
        case buffered((Result<HTTPResponse, TransferFailure>) -> Void)
        case streaming(any StreamHandler)
    }

    let id: UInt64
    let request: HTTPRequest
    let sink: Sink
    /// Set by any thread; the I/O thread checks it before starting the transfer.
    let cancelRequested = Atomic<Bool>(false)
    // Everything below is touched only by the I/O thread.
    var handle: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    var status = 0
    var opened = false
    var body: [UInt8] = []
    var exceeded = false
    var maxResponseBytes = 0

    init(id: UInt64, request: HTTPRequest, sink: Sink) {
        self.id = id
        self.request = request
        self.sink = sink
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
    }

    var streamHandler: (any StreamHandler)? {
        if case .streaming(let handler) = sink { return handler }
        return nil
    }

    func fetchStatus() {
        guard status == 0, let handle else { return }
        var code = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        status = code
    }

    /// Body bytes from libcurl. Returns false to abort (response over the size limit).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        fetchStatus()
        if let handler = streamHandler, (200..<300).contains(status) {
            if !opened { opened = true; handler.opened(status: status) }
            handler.received(bytes)
            return true
        }
        if body.count + bytes.count > maxResponseBytes {
            exceeded = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// A header line from libcurl; the blank line ends a header block.
    func receiveHeader(_ bytes: UnsafeRawBufferPointer) {
        guard let handler = streamHandler, !opened, bytes.count <= 2 else { return }
        guard bytes.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) else { return }
        fetchStatus()
        // 1xx interim answers are followed by another header block.
        if status >= 200 {
            opened = true
            handler.opened(status: status)
        } else {
            status = 0
        }
    }

    func finish(_ result: Result<HTTPResponse, TransferFailure>) {
        switch sink {
        case .buffered(let completion): completion(result)
        case .streaming(let handler):
            if case .success(let response) = result, !opened {
                opened = true
                handler.opened(status: response.status)
            }
            handler.finished(result)
        }
    }
}

private let writeCallback: ccurl_data_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    return transfer.receive(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private let headerCallback: ccurl_data_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: length))
    return length
}

final class TransportCore: @unchecked Sendable {
    private struct Queue {
        var submissions: [Transfer] = []
        var cancellations: [Transfer] = []
        var stopping = false
        var nextID: UInt64 = 1
    }

    private let queue = Mutex(Queue())
    private let multi: UnsafeMutableRawPointer
    private let maxResponseBytes: Int
    // I/O thread only:
    private var active: [UInt64: Transfer] = [:]
    private var byHandle: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []

    init(maxResponseBytes: Int) {
        _ = curlGlobalInit
        multi = curl_multi_init()!
        self.maxResponseBytes = maxResponseBytes
        // Keep enough idle connections for the operator's watches plus concurrent requests, and
        // bound how many one server gets (over HTTP/1.1 each concurrent request needs one;
        // more wait inside libcurl, within their deadlines).
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64)
    }

    func nextID() -> UInt64 {
        queue.withLock { queue in
            defer { queue.nextID += 1 }
            return queue.nextID
        }
    }

    func submit(_ transfer: Transfer) {
        let accepted = queue.withLock { queue -> Bool in
            if queue.stopping { return false }
            queue.submissions.append(transfer)
            return true
        }
        if accepted { curl_multi_wakeup(multi) } else { transfer.finish(.failure(.shutDown)) }
    }

    func cancel(_ transfer: Transfer) {
        transfer.cancelRequested.store(true, ordering: .sequentiallyConsistent)
        queue.withLock { $0.cancellations.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func stop() {
        queue.withLock { $0.stopping = true }
        curl_multi_wakeup(multi)
    }

    func run() {
        while true {
            let (submissions, cancellations, stopping) = queue.withLock { queue in
                defer { queue.submissions = []; queue.cancellations = [] }
                return (queue.submissions, queue.cancellations, queue.stopping)
            }
            if stopping {
                for transfer in submissions { transfer.finish(.failure(.shutDown)) }
                break
            }
            for transfer in submissions { start(transfer) }
            // A transfer not active here either finished already or will see its flag at start.
            for transfer in cancellations where active[transfer.id] === transfer {
                complete(transfer, .failure(.cancelled))
            }
            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                      let transfer = byHandle[handle] else { continue }
                finishFromCurl(transfer, code: message.pointee.data.result)
            }
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for transfer in Array(active.values) { complete(transfer, .failure(.shutDown)) }
        for handle in idleHandles { curl_easy_cleanup(handle) }
        idleHandles = []
        curl_multi_cleanup(multi)
    }

    private func start(_ transfer: Transfer) {
        if transfer.cancelRequested.load(ordering: .sequentiallyConsistent) {
            transfer.finish(.failure(.cancelled))
            return
        }
        let handle = idleHandles.popLast() ?? curl_easy_init()!
        transfer.handle = handle
        transfer.maxResponseBytes = maxResponseBytes
        if let failure = configure(handle, for: transfer) {
            curl_easy_reset(handle)
            idleHandles.append(handle)
            transfer.handle = nil
            transfer.finish(.failure(failure))
            return
        }
        active[transfer.id] = transfer
        byHandle[handle] = transfer
        let code = curl_multi_add_handle(multi, handle)
        if code != CURLM_OK {
            complete(transfer, .failure(.curl(code: Int(code.rawValue), message: String(cString: curl_multi_strerror(code)))))
        }
    }

    /// Sets every option of one transfer; returns a failure when libcurl refuses one.
    private func configure(_ handle: UnsafeMutableRawPointer, for transfer: Transfer) -> TransferFailure? {
        let request = transfer.request
        var failed: TransferFailure?
        func check(_ code: CURLcode, _ what: String) {
            if code != CURLE_OK, failed == nil {
                failed = .curl(code: Int(code.rawValue), message: "\(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        check(ccurl_setopt_string(handle, CURLOPT_URL, request.url), "URL")
        check(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        check(ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, transfer.errorBuffer), "ERRORBUFFER")
        check(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout)), "TIMEOUT_MS")
        check(ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout)), "CONNECTTIMEOUT_MS")
        check(ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        check(ccurl_setopt_long(handle, CURLOPT_PIPEWAIT, 1), "PIPEWAIT")
        check(ccurl_setopt_string(handle, CURLOPT_USERAGENT, request.userAgent), "USERAGENT")
        // Verification is always on; nothing in this client can turn it off.
        check(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1), "SSL_VERIFYPEER")
        check(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2), "SSL_VERIFYHOST")
        check(ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "https"), "PROTOCOLS_STR")
        if let ca = request.tls.certificateAuthority {
            // Only the configured CA: not the system store beside it.
            check(ccurl_setopt_string(handle, CURLOPT_CAPATH, nil), "CAPATH")
            switch ca {
            case .file(let path): check(ccurl_setopt_string(handle, CURLOPT_CAINFO, path), "CAINFO")
            case .data(let bytes):
                check(ccurl_setopt_string(handle, CURLOPT_CAINFO, nil), "CAINFO")
                check(bytes.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }, "CAINFO_BLOB")
            }
        }
        if let certificate = request.tls.clientCertificate {
            check(ccurl_setopt_string(handle, CURLOPT_SSLCERTTYPE, "PEM"), "SSLCERTTYPE")
            switch certificate {
            case .file(let path): check(ccurl_setopt_string(handle, CURLOPT_SSLCERT, path), "SSLCERT")
            case .data(let bytes): check(bytes.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }, "SSLCERT_BLOB")
            }
        }
        if let key = request.tls.clientKey {
            check(ccurl_setopt_string(handle, CURLOPT_SSLKEYTYPE, "PEM"), "SSLKEYTYPE")
            switch key {
            case .file(let path): check(ccurl_setopt_string(handle, CURLOPT_SSLKEY, path), "SSLKEY")
            case .data(let bytes): check(bytes.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }, "SSLKEY_BLOB")
            }
        }
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        // No "Expect: 100-continue" round trip before large bodies.
        for line in request.headers + ["Expect:"] { headers = curl_slist_append(headers, line) }
        transfer.headerList = headers
        check(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers), "HTTPHEADER")
        if request.method == "GET" {
            check(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1), "HTTPGET")
        } else {
            check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method), "CUSTOMREQUEST")
        }
        if let body = request.body {
            check(ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "POSTFIELDSIZE")
            check(body.withUnsafeBytes { ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) }, "COPYPOSTFIELDS")
        }
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        check(ccurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback), "WRITEFUNCTION")
        check(ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context), "WRITEDATA")
        if transfer.streamHandler != nil {
            check(ccurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback), "HEADERFUNCTION")
            check(ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context), "HEADERDATA")
        }
        return failed
    }

    private func finishFromCurl(_ transfer: Transfer, code: CURLcode) {
        guard let handle = transfer.handle else { return }
        if code == CURLE_OK {
            transfer.fetchStatus()
            var pointer: UnsafeMutableRawPointer? = nil
            _ = ccurl_getinfo_pointer(handle, CURLINFO_CONTENT_TYPE, &pointer)
            let contentType = pointer.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
            complete(transfer, .success(HTTPResponse(status: transfer.status, contentType: contentType, body: transfer.body)))
        } else if code == CURLE_OPERATION_TIMEDOUT {
            complete(transfer, .failure(.timedOut))
        } else if code == CURLE_WRITE_ERROR, transfer.exceeded {
            complete(transfer, .failure(.tooLarge(limit: maxResponseBytes)))
        } else {
            let detail = String(cString: transfer.errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            complete(transfer, .failure(.curl(code: Int(code.rawValue), message: message)))
        }
    }

    private func complete(_ transfer: Transfer, _ result: Result<HTTPResponse, TransferFailure>) {
        if let handle = transfer.handle {
            curl_multi_remove_handle(multi, handle)
            byHandle[handle] = nil
            curl_easy_reset(handle)
            if idleHandles.count < 16 { idleHandles.append(handle) } else { curl_easy_cleanup(handle) }
            transfer.handle = nil
        }
        active[transfer.id] = nil
        transfer.finish(result)
    }

    private func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
