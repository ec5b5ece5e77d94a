import Foundation

/// Every bound the server enforces. Defaults suit a webhook receiver on the open internet.
///
/// Which status each limit produces:
/// - request line longer than `maxRequestLineLength` → 414
/// - a header line longer than `maxHeaderLineLength`, more than `maxHeaderCount` fields,
///   or more than `maxHeaderBytes` of header lines → 431
/// - declared `Content-Length` above `maxBodySize` → 413, answered before reading the body
/// - head not complete within `headerReadTimeout`, or body not complete within
///   `bodyReadTimeout` → 408
/// - `maxConnections` already open → the new connection gets 503 at once and is closed
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
    /// Largest accepted request body. Default 25 MiB.
    public var maxBodySize: Int
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
    /// Most connections open at once; connections above it get 503 and are closed. Default 512.
    public var maxConnections: Int
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
        headerReadTimeout: TimeInterval = 10,
        bodyReadTimeout: TimeInterval = 30,
        idleTimeout: TimeInterval = 60,
        writeTimeout: TimeInterval = 30,
        maxConnections: Int = 512,
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
        self.headerReadTimeout = headerReadTimeout
        self.bodyReadTimeout = bodyReadTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.listenBacklog = listenBacklog
        self.shutdownGrace = shutdownGrace
        self.lingerTimeout = lingerTimeout
        self.requireHost = requireHost
    }
}
