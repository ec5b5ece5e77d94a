// Shared helpers for the HTTP tests (no tests of its own): a raw TCP client that sends
// exact bytes and reads responses with bounded waits, and a server fixture that is always
// shut down at teardown. Everything talks to 127.0.0.1 only.
import Foundation
import Glibc
import XCTest

@testable import Adapter
@testable import HTTP

/// One response as seen on the wire by `RawClient`.
struct RawResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var closesConnection: Bool { headers.tokens(for: "Connection").contains("close") }
}

enum RawClientError: Error { case connect(Int32) }

/// A TCP client for sending malformed or partial requests byte-exactly.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private(set) var peerClosed = false
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// - Parameter source: the local address to connect from (any of 127.0.0.0/8 works
    ///   on loopback), to look like another client.
    init(port: UInt16, from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 { throw RawClientError.connect(errno) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // Every property is initialized here, so a throw still runs deinit (which closes).
        if rc != 0 { throw RawClientError.connect(errno) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(fd)
        scratch.deallocate()
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        HTTPSocket.writeAll(fd, bytes, deadline: HTTPSocket.deadline(after: 5))
    }

    /// Reads one response (interim 1xx included), framed by Content-Length
    /// (`noBody`: the answer to a HEAD, whose Content-Length describes no bytes).
    /// Nil when the connection closes or `timeout` passes before it is complete.
    func readResponse(timeout: TimeInterval = 5, noBody: Bool = false) -> RawResponse? {
        let deadline = HTTPSocket.deadline(after: timeout)
        while true {
            if let response = parseBuffered(noBody: noBody) { return response }
            if peerClosed || !readMore(deadline: deadline) { return nil }
        }
    }

    /// True when the server closes (EOF or reset) within `timeout`; any bytes that
    /// arrive meanwhile are collected in `leftover`.
    func waitForClose(timeout: TimeInterval = 5) -> Bool {
        let deadline = HTTPSocket.deadline(after: timeout)
        while !peerClosed {
            if !readMore(deadline: deadline) { return peerClosed }
        }
        return true
    }

    /// Bytes received but not consumed by `readResponse`.
    var leftover: String { String(decoding: buffer[start...], as: UTF8.self) }

    /// Reads until the unconsumed bytes end with `suffix` (true), or the connection closes
    /// or `timeout` passes first (false). For streamed bodies: `readResponse` leaves them.
    func readUntil(suffix: String, timeout: TimeInterval = 5) -> Bool {
        let deadline = HTTPSocket.deadline(after: timeout)
        let tail = Array(suffix.utf8)
        while true {
            if buffer.count - start >= tail.count, buffer[(buffer.count - tail.count)...].elementsEqual(tail) { return true }
            if peerClosed || !readMore(deadline: deadline) { return false }
        }
    }

    /// Whether nothing at all has arrived yet (and the connection is still open).
    func isSilent(for timeout: TimeInterval) -> Bool {
        let deadline = HTTPSocket.deadline(after: timeout)
        let before = buffer.count
        _ = readMore(deadline: deadline)
        return buffer.count == before && !peerClosed
    }

    private func readMore(deadline: UInt64) -> Bool {
        switch HTTPSocket.wait(fd, deadline: deadline) {
        case .ready:
            switch HTTPSocket.read(fd, into: &buffer, max: scratch.count, scratch: scratch) {
            case .data, .wouldBlock: return true
            case .eof, .failed:
                peerClosed = true
                return true
            }
        default:
            return false
        }
    }

    private func parseBuffered(noBody: Bool) -> RawResponse? {
        let bytes = buffer[start...]
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = noBody ? 0 : Int(headers["Content-Length"] ?? "0") ?? 0
        guard buffer.count - end.upperBound >= length else { return nil }
        let body = Data(buffer[end.upperBound..<(end.upperBound + length)])
        start = end.upperBound + length
        return RawResponse(status: status, headers: headers, body: body)
    }
}

/// Base class with a server fixture.
class HTTPTestCase: XCTestCase {
    /// Defaults with short grace/linger so teardown stays fast.
    static let testLimits = HTTPServerLimits(shutdownGrace: 2, lingerTimeout: 1)

    /// Answers `METHOD target body` as text.
    static let echo: HTTPServer.Handler = { request in
        .text(200, "\(request.method) \(request.target) \(String(decoding: request.body, as: UTF8.self))")
    }

    func startServer(
        limits: HTTPServerLimits = HTTPTestCase.testLimits, handler: @escaping HTTPServer.Handler = HTTPTestCase.echo
    ) throws -> HTTPServer {
        let server = HTTPServer(host: "127.0.0.1", port: 0, limits: limits, handler: handler)
        try server.start()
        addTeardownBlock { server.shutdown() }
        return server
    }

    func url(_ server: HTTPServer, _ path: String) -> String { "http://127.0.0.1:\(server.port)\(path)" }

    /// Sends `request` on a fresh raw connection and returns the first response.
    func rawExchange(_ server: HTTPServer, _ request: String, timeout: TimeInterval = 5) throws -> (RawClient, RawResponse?) {
        let client = try RawClient(port: server.port)
        client.send(request)
        return (client, client.readResponse(timeout: timeout))
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes.
    func waitUntil(timeout: TimeInterval = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
