import Foundation
import CCurl

/// One HTTP(S) request of the GitHub client.
struct TransportRequest: Sendable {
    var method: String
    var url: String
    var headers: [(String, String)]
    var body: Data?
    /// Bounds the whole exchange, connect included.
    var timeout: TimeInterval
}

/// The answer: status, headers (lowercased names; repeated ones joined with ", "), body.
struct TransportResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
}

/// Why no response came back.
enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case timedOut
    case connectionRefused
    case unknownHost
    /// Reset, closed early, nothing answered.
    case connectionLost
    case tls(String)
    case responseTooLarge
    case failed(code: UInt32, String)

    /// GitHub being away rather than the request being wrong: worth another try.
    var isRetryable: Bool {
        switch self {
        case .timedOut, .connectionRefused, .unknownHost, .connectionLost: return true
        case .tls, .responseTooLarge, .failed: return false
        }
    }

    var description: String {
        switch self {
        case .timedOut: return "timed out"
        case .connectionRefused: return "connection refused"
        case .unknownHost: return "unknown host"
        case .connectionLost: return "connection lost"
        case .tls(let m): return "TLS: \(m)"
        case .responseTooLarge: return "response too large"
        case .failed(let code, let m): return "\(m) (curl \(code))"
        }
    }
}

/// HTTP(S) through libcurl's multi interface, one thread per request. That thread sleeps in
/// `curl_multi_poll` while GitHub is silent, so a call that hangs costs no CPU
/// (URLSession's dispatch-source glue around libcurl spins at ~80% of a core instead; see
/// docs/performance.md), and a cancelled Swift task wakes it with `curl_multi_wakeup` and
/// ends the transfer at once, so a shutdown never waits for GitHub.
final class CurlTransport: Sendable {
    let maxResponseBytes: Int

    init(maxResponseBytes: Int = 64 << 20) {
        _ = Self.initialized
        self.maxResponseBytes = maxResponseBytes
    }

    // Once per process, before any handle (not thread-safe in older libcurl).
    private static let initialized: Void = { _ = curl_global_init(3) }()   // CURL_GLOBAL_DEFAULT

    /// Throws `TransportError`, or `CancellationError` when the calling task is cancelled.
    func perform(_ request: TransportRequest) async throws -> TransportResponse {
        let call = CurlCall(request, maxBytes: maxResponseBytes)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TransportResponse, any Error>) in
                let t = Thread { continuation.resume(with: call.run()) }
                t.name = "github-http"
                t.start()
            }
        } onCancel: {
            call.cancel()
        }
    }
}

/// The state of one transfer; callbacks reach it through an unretained pointer that
/// lives as long as `run`.
private final class CurlCall: @unchecked Sendable {
    let request: TransportRequest
    let maxBytes: Int
    private let lock = NSLock()
    private var multi: UnsafeMutableRawPointer?
    private var cancelled = false
    var body = Data()
    var headers: [String: String] = [:]
    var tooLarge = false

    init(_ request: TransportRequest, maxBytes: Int) {
        self.request = request
        self.maxBytes = maxBytes
    }

    func cancel() {
        lock.lock()
        cancelled = true
        if let multi { curl_multi_wakeup(multi) }
        lock.unlock()
    }

    private var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    func run() -> Result<TransportResponse, any Error> {
        guard let easy = curl_easy_init(), let m = curl_multi_init() else {
            return .failure(TransportError.failed(code: 0, "cannot create a curl handle"))
        }
        var list: UnsafeMutablePointer<curl_slist>?
        // "Expect:" turns off 100-continue: GitHub answers bodies at once.
        for (name, value) in request.headers + [("Expect", "")] {
            list = curl_slist_append(list, value.isEmpty ? "\(name):" : "\(name): \(value)")
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        defer {
            lock.lock(); multi = nil; lock.unlock()
            curl_multi_remove_handle(m, easy)
            curl_easy_cleanup(easy)
            curl_multi_cleanup(m)
            curl_slist_free_all(list)
        }
        _ = coven_curl_setopt_string(easy, CURLOPT_URL, request.url)
        _ = coven_curl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = coven_curl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
        _ = coven_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        _ = coven_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = coven_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)   // the client decides (same origin only)
        _ = coven_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, max(1, Int(request.timeout * 1000)))
        if let body = request.body {
            _ = coven_curl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, body.count)
            _ = body.withUnsafeBytes { coven_curl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
        } else if request.method == "GET" {
            _ = coven_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        }
        _ = coven_curl_setopt_write_callback(easy, CURLOPT_WRITEFUNCTION, curlWrite)
        _ = coven_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        _ = coven_curl_setopt_write_callback(easy, CURLOPT_HEADERFUNCTION, curlHeader)
        _ = coven_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
        curl_multi_add_handle(m, easy)
        lock.lock()
        multi = m
        lock.unlock()

        var running: Int32 = 1
        while true {
            if isCancelled { return .failure(CancellationError()) }
            let rc = curl_multi_perform(m, &running)
            guard rc == CURLM_OK else {
                return .failure(TransportError.failed(code: UInt32(bitPattern: rc.rawValue), String(cString: curl_multi_strerror(rc))))
            }
            if running == 0 { break }
            // Sleeps until a socket is ready, curl's next timeout, a wake-up (cancel) or 1 s.
            _ = curl_multi_poll(m, nil, 0, 1000, nil)
        }
        var code = CURLE_OK
        var left: Int32 = 0
        while let msg = curl_multi_info_read(m, &left) {
            if msg.pointee.msg == CURLMSG_DONE { code = coven_curl_msg_result(msg) }
        }
        if isCancelled { return .failure(CancellationError()) }
        guard code == CURLE_OK else { return .failure(Self.error(code, tooLarge: tooLarge)) }
        var status = 0
        _ = coven_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(TransportResponse(status: status, headers: headers, body: body))
    }

    private static func error(_ code: CURLcode, tooLarge: Bool) -> TransportError {
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_COULDNT_CONNECT: return .connectionRefused
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .unknownHost
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE: return .connectionLost
        case CURLE_WRITE_ERROR where tooLarge: return .responseTooLarge
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE:
            return .tls(String(cString: curl_easy_strerror(code)))
        default: return .failed(code: code.rawValue, String(cString: curl_easy_strerror(code)))
        }
    }

    fileprivate func received(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxBytes else { tooLarge = true; return false }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func header(_ line: String) {
        let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("HTTP/") { headers = [:]; return }   // a new response (after a 1xx)
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers[name] = headers[name].map { $0 + ", " + value } ?? value
    }
}

private let curlWrite: curl_write_callback = { data, size, count, context in
    let call = Unmanaged<CurlCall>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    guard let data else { return n }
    return call.received(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
}

private let curlHeader: curl_write_callback = { data, size, count, context in
    let call = Unmanaged<CurlCall>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    guard let data else { return n }
    call.header(String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self))
    return n
}
