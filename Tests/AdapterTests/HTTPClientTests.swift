// HTTPClient against our server and against tiny raw servers for the odd cases.
import Foundation
import Glibc
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPClientTests: HTTPTestCase {

    func testGetReturnsStatusHeadersAndBody() throws {
        let server = try startServer(handler: { _ in .text(201, "made", headers: ["X-Thing": "1"]) })
        let response = try HTTPClient().get(url(server, "/p?q=1"))
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(response.headers["x-thing"], "1")
        XCTAssertEqual(response.text, "made")
    }

    func testPostSendsBodyAndHeaders() throws {
        let server = try startServer(handler: { request in
            .text(200, "\(request.headers["X-Sig"] ?? "-") \(String(decoding: request.body, as: UTF8.self))")
        })
        let response = try HTTPClient().post(url(server, "/hook"), body: Data("{}".utf8), headers: ["X-Sig": "abc"])
        XCTAssertEqual(response.text, "abc {}")
    }

    func testLargeBodyRoundTrip() throws {
        let server = try startServer(handler: { request in HTTPResponse(status: 200, body: request.body) })
        let body = Data((0..<(4 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let response = try HTTPClient().post(url(server, "/big"), body: body, timeout: 20)
        XCTAssertEqual(response.body.count, body.count, "a 4 MiB body must arrive whole, in both directions")
        XCTAssertTrue(response.body == body, "the echoed 4 MiB body differs from what was sent")
    }

    func testOversizedBodySentAnywayStillSees413() throws {
        var limits = Self.testLimits
        limits.maxBodySize = 1024
        let server = try startServer(limits: limits)
        // The client writes all 2 MiB before reading: the server's lingering close must
        // let it finish writing and still read the 413 rather than a reset.
        let response = try HTTPClient().post(url(server, "/up"), body: Data(count: 2 * 1024 * 1024), timeout: 10)
        XCTAssertEqual(response.status, 413)
    }

    func testKeepAliveReusesOneConnection() throws {
        let server = try startServer()
        let client = HTTPClient(keepAlive: true)
        for index in 0..<3 {
            XCTAssertEqual(try client.get(url(server, "/\(index)")).status, 200)
        }
        XCTAssertEqual(client.connectionsOpened, 1, "three requests must share one pooled connection")
        XCTAssertEqual(server.acceptedConnections, 1)
    }

    func testWithoutKeepAliveEachRequestConnects() throws {
        let server = try startServer()
        let client = HTTPClient(keepAlive: false)
        for index in 0..<2 { _ = try client.get(url(server, "/\(index)")) }
        XCTAssertEqual(client.connectionsOpened, 2)
    }

    func testReconnectsAfterServerClosedPooledConnection() throws {
        var limits = Self.testLimits
        limits.idleTimeout = 0.2
        let server = try startServer(limits: limits)
        let client = HTTPClient(keepAlive: true)
        XCTAssertEqual(try client.get(url(server, "/1")).status, 200)
        XCTAssertTrue(waitUntil { server.openConnections == 0 }, "server did not close the idle connection")
        XCTAssertEqual(try client.get(url(server, "/2")).status, 200, "a stale pooled connection must be replaced")
        XCTAssertEqual(client.connectionsOpened, 2)
    }

    func testHeadRequestReadsNoBody() throws {
        let server = try startServer()
        let client = HTTPClient()
        let head = try client.request("HEAD", url(server, "/h"))
        XCTAssertEqual(head.body.count, 0)
        XCTAssertEqual(try client.get(url(server, "/g")).text, "GET /g ", "the connection must stay in sync after HEAD")
    }

    func testConnectionRefusedIsReported() throws {
        let server = try startServer()
        let port = server.port
        server.shutdown()
        XCTAssertThrowsError(try HTTPClient().get("http://127.0.0.1:\(port)/", timeout: 2)) { error in
            XCTAssertEqual(error as? HTTPClientError, .connectFailed(errno: ECONNREFUSED))
        }
    }

    func testSilentServerTimesOut() throws {
        let listener = try RawListener()
        let started = Date()
        XCTAssertThrowsError(try HTTPClient().get("http://127.0.0.1:\(listener.port)/", timeout: 0.3)) { error in
            XCTAssertEqual(error as? HTTPClientError, .timedOut)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the timeout must bound the whole call")
    }

    func testChunkedResponseIsDecoded() throws {
        let listener = try RawListener()
        listener.serveOnce(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n")
        let response = try HTTPClient().get("http://127.0.0.1:\(listener.port)/", timeout: 5)
        XCTAssertEqual(response.text, "Wikipedia")
    }

    func testBodyUntilCloseIsRead() throws {
        let listener = try RawListener()
        listener.serveOnce("HTTP/1.0 200 OK\r\n\r\nuntil the end")
        let response = try HTTPClient().get("http://127.0.0.1:\(listener.port)/", timeout: 5)
        XCTAssertEqual(response.text, "until the end")
    }

    func testURLParsing() throws {
        let target = try HTTPClient.parse("http://127.0.0.1:8080/a/b?c=d#frag")
        XCTAssertEqual(target.host, "127.0.0.1")
        XCTAssertEqual(target.port, 8080)
        XCTAssertEqual(target.requestTarget, "/a/b?c=d")
        XCTAssertEqual(target.hostHeader, "127.0.0.1:8080")
        XCTAssertEqual(try HTTPClient.parse("http://[::1]/").host, "::1")
        XCTAssertEqual(try HTTPClient.parse("http://localhost?x").requestTarget, "/?x")
        XCTAssertThrowsError(try HTTPClient.parse("https://example.com/")) { error in
            XCTAssertEqual(error as? HTTPClientError, .unsupportedScheme("https"))
        }
        XCTAssertThrowsError(try HTTPClient.parse("http://user:pw@host/"), "userinfo must be refused")
        XCTAssertThrowsError(try HTTPClient.parse("http://host:99999/"), "port out of range must be refused")
    }
}

/// A listening socket on 127.0.0.1 that can answer one connection with fixed bytes.
final class RawListener: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw RawClientError.connect(errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }

    /// Accepts one connection on a background thread, reads the request head, writes
    /// `response` and closes (all bounded by poll deadlines).
    func serveOnce(_ response: String) {
        Thread.detachNewThread { [self] in
            guard HTTPSocket.wait(fd, deadline: HTTPSocket.deadline(after: 5)) == .ready else { return }
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
            var request: [UInt8] = []
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
            defer { scratch.deallocate() }
            let deadline = HTTPSocket.deadline(after: 5)
            while request.firstRange(of: Array("\r\n\r\n".utf8)) == nil,
                HTTPSocket.wait(connection, deadline: deadline) == .ready
            {
                if case .data = HTTPSocket.read(connection, into: &request, max: 4096, scratch: scratch) { continue }
                break
            }
            HTTPSocket.writeAll(connection, Array(response.utf8), deadline: deadline)
            shutdown(connection, Int32(SHUT_WR))
            _ = HTTPSocket.wait(connection, deadline: HTTPSocket.deadline(after: 1))
        }
    }
}
