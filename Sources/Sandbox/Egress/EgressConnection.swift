import Foundation

/// Bytes read from one side of a proxied connection and not yet written to the other.
final class RelayBuffer {
    let storage: UnsafeMutableRawPointer
    let capacity: Int
    /// Unwritten bytes are storage[off..<len].
    var off = 0
    var len = 0
    /// The reading side reached EOF.
    var eof = false
    /// EOF passed on (shutdown of the writing side).
    var shut = false

    init(capacity: Int) {
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var pending: Int { len - off }

    /// Replaces the contents with `bytes` (which must fit).
    func load(_ bytes: [UInt8]) {
        precondition(bytes.count <= capacity)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        off = 0
        len = bytes.count
    }

    var unwritten: [UInt8] { Array(UnsafeRawBufferPointer(start: storage + off, count: pending)) }
}

/// One client connection of the egress proxy and where it is in its life:
///
///     head ─► resolving ─► connecting ─► tunnel ─► done
///       │         │            │           (relay both ways, idle timeout, byte cap)
///       └─────────┴────────────┴─► answering ─► draining ─► done
///                                  (a 4xx/5xx that names the rule, then close)
///
/// Owned by the proxy's loop thread only.
final class EgressConnection {
    enum State { case head, resolving, connecting, tunnel, answering, draining, done }

    /// Per-direction buffer size of a tunnel (also the most a request head may use).
    static let bufferSize = 32 * 1024

    let id: Int
    let client: Int32
    var upstream: Int32 = -1
    var state: State = .head
    let accepted: ContinuousClock.Instant
    var deadline: ContinuousClock.Instant?

    /// The request head first, then client -> destination bytes.
    let up = RelayBuffer(capacity: EgressConnection.bufferSize)
    /// Destination -> client (or the proxy's own answer); allocated when needed.
    var down: RelayBuffer?

    var request: EgressRequest?
    var record: EgressRecord
    var denial: EgressDenial?
    /// Addresses still to try (already checked against the policy).
    var candidates: [IPAddress] = []
    var candidateIndex = 0
    var connectingTo: IPAddress?
    var lastConnectError = ""
    var tunnelOpen = false

    init(id: Int, client: Int32, now: ContinuousClock.Instant) {
        self.id = id
        self.client = client
        self.accepted = now
        record = EgressRecord(started: Date(), method: "", host: "", port: 0, address: nil, outcome: .invalid,
                              rule: "", status: nil, bytesUp: 0, bytesDown: 0, durationMs: 0, closeReason: nil)
    }

    /// The poll events this connection waits for on (client, upstream).
    var interest: (client: Int16, upstream: Int16) {
        let IN = Int16(POLLIN), OUT = Int16(POLLOUT)
        switch state {
        case .head, .draining: return (IN, 0)
        case .resolving, .done: return (0, 0)
        case .connecting: return (0, OUT)
        case .answering: return (OUT, 0)
        case .tunnel:
            var c: Int16 = 0, u: Int16 = 0
            if !up.eof && up.pending == 0 { c |= IN }
            if let d = down {
                if !d.eof && d.pending == 0 { u |= IN }
                if d.pending > 0 { c |= OUT }
            }
            if up.pending > 0 { u |= OUT }
            return (c, u)
        }
    }

    func closeUpstream() {
        if upstream >= 0 { Glibc.close(upstream); upstream = -1 }
    }
}

/// The proxy's own answers: a status line whose reason names the rule (tools such
/// as Python's http.client print it), and a one-line plain-text body that does too.
enum EgressResponse {
    static let established = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)

    static func error(status: Int, message: String) -> [UInt8] {
        let phrase: String
        switch status {
        case 400: phrase = "Bad Request"
        case 403: phrase = "Forbidden"
        case 408: phrase = "Request Timeout"
        case 431: phrase = "Request Header Fields Too Large"
        case 502: phrase = "Bad Gateway"
        case 503: phrase = "Service Unavailable"
        case 504: phrase = "Gateway Timeout"
        default: phrase = "Error"
        }
        let clean = String(message.unicodeScalars.map { $0.isASCII && $0.value >= 32 && $0.value < 127 ? Character($0) : "?" })
        let body = clean + "\n"
        let head = "HTTP/1.1 \(status) \(phrase) (\(clean.prefix(300)))\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\nX-Coven-Egress: \(status == 403 ? "denied" : "error")\r\n\r\n"
        return Array((head + body).utf8)
    }
}
