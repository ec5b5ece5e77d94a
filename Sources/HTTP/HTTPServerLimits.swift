import Foundation

/// Every bound the server enforces. Defaults suit a webhook receiver on the open internet.
///
/// Which status each limit produces:
/// - request line longer than `maxRequestLineLength` → 414
/// - a header line longer than `maxHeaderLineLength`, more than `maxHeaderCount` fields,
///   or more than `maxHeaderBytes` of header lines → 431
/// - declared `Content-Length` above `maxBodySize` → 413, answered before reading the body;
///   a chunked body is refused with 413 at the first chunk that would pass it
/// - head not complete within `headerReadTimeout`, or body not complete within
///   `bodyReadTimeout` → 408
/// - requests in progress holding more than `requestMemoryBudget` together (their bodies
///   as they arrive, plus a fixed share each for their connection) → 503 with
///   `Retry-After` for the request that would pass it (nothing of it is kept)
/// - `maxConnections` open, or `maxConnectionsPerClient` from the new connection's
///   address: the longest-idle connection (of that address) is closed to make room; when
///   none is idle, the new connection gets 503 at once and is closed
///
/// Every error response closes the connection.
public struct HTTPServerLimits: Sendable, Equatable {
    /// Longest request line (method, target and version; CRLF not counted). Default 8 KiB.
    public var maxRequestLineLength: Int
    /// Longest single header line (CRLF not counted). Default 8 KiB.
    public var maxHeaderLineLength: Int
    /// Total size of all header lines, CRLFs included, request line excluded. Default 64 KiB.
    public var maxHeaderBytes: Int
    /// Most header fields in one request. Default 100.
    public var maxHeaderCount: Int
    /// Largest accepted request body. Default 25 MiB (GitHub's cap for webhook payloads).
    public var maxBodySize: Int
    /// Most memory all requests in progress may hold together: each one's body, counted as
    /// its bytes arrive (so a client holds only what it actually sent, not what it
    /// announced), plus `HTTPServer.requestAllowance` (64 KiB) from its first byte until it
    /// is answered, for what its connection costs meanwhile (thread, buffers). A request
    /// that would pass it gets 503 with `Retry-After` and loses its connection. Default
    /// 64 MiB. The server uses at least `maxBodySize` + 64 KiB (or a largest body could
    /// never be accepted); leave room for `maxConnections` allowances besides (512 × 64 KiB
    /// = 32 MiB by default), or a crowd of requests refuses the largest body.
    public var requestMemoryBudget: Int
    /// Time allowed to receive a complete request head, counted from the connection's
    /// accept (first request) or from the first byte of the request (later requests).
    /// Default 10 s.
    public var headerReadTimeout: TimeInterval
    /// Time allowed to receive the whole body once the head is complete (a total, not
    /// an inactivity timer, so a trickling client is dropped too). Default 30 s.
    public var bodyReadTimeout: TimeInterval
    /// How long a keep-alive connection may sit between requests before it is closed
    /// silently. Default 60 s.
    public var idleTimeout: TimeInterval
    /// Time allowed to write one response to a client that does not read. Default 30 s.
    public var writeTimeout: TimeInterval
    /// Most connections open at once. A new connection past it closes the connection idle
    /// the longest (answered ones lingering before their close first, then idle keep-alive
    /// ones, then ones that never sent a byte); when no connection is idle it gets 503 and
    /// is closed. Once fewer than `maxConnections / 16`
    /// slots are free, responses close their connection instead of keeping it alive, and
    /// every new connection closes an idle one, so a slot stays free for new requests.
    /// Default 512.
    public var maxConnections: Int
    /// Most connections open at once from one client address (IPv4 address, or IPv6 /64).
    /// Past it, that address's longest-idle connection is closed, or the new one gets 503
    /// when all of its connections are busy. Behind a reverse proxy every connection comes
    /// from the proxy's address: raise it to `maxConnections` there. Default 64.
    public var maxConnectionsPerClient: Int
    /// `listen(2)` backlog. Default 128.
    public var listenBacklog: Int
    /// How long `shutdown()` lets requests already being received or handled finish
    /// before it cuts their connections. Default 5 s.
    public var shutdownGrace: TimeInterval
    /// After answering and deciding to close, the server half-closes and discards
    /// whatever the client still sends for up to this long (or until the client closes),
    /// so that closing never resets the connection before the client has read the answer.
    /// Default 2 s.
    public var lingerTimeout: TimeInterval
    /// Reject HTTP/1.1 requests without exactly one `Host` field with 400 (RFC 9112 §3.2).
    /// Default true.
    public var requireHost: Bool

    public init(
        maxRequestLineLength: Int = 8 * 1024,
        maxHeaderLineLength: Int = 8 * 1024,
        maxHeaderBytes: Int = 64 * 1024,
        maxHeaderCount: Int = 100,
        maxBodySize: Int = 25 * 1024 * 1024,
        requestMemoryBudget: Int = 64 * 1024 * 1024,
        headerReadTimeout: TimeInterval = 10,
        bodyReadTimeout: TimeInterval = 30,
        idleTimeout: TimeInterval = 60,
        writeTimeout: TimeInterval = 30,
        maxConnections: Int = 512,
        maxConnectionsPerClient: Int = 64,
        listenBacklog: Int = 128,
        shutdownGrace: TimeInterval = 5,
        lingerTimeout: TimeInterval = 2,
        requireHost: Bool = true
    ) {
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderLineLength = maxHeaderLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodySize = maxBodySize
        self.requestMemoryBudget = requestMemoryBudget
        self.headerReadTimeout = headerReadTimeout
        self.bodyReadTimeout = bodyReadTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.listenBacklog = listenBacklog
        self.shutdownGrace = shutdownGrace
        self.lingerTimeout = lingerTimeout
        self.requireHost = requireHost
    }
}
