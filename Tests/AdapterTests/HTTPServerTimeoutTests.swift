// Deadlines: stalled or slow clients are dropped with 408, idle keep-alive connections are
// closed silently, and a stalled client never delays anyone else. Timeouts are configured
// tiny (300 ms) and asserted with bounded waits, never with sleeps.
import Foundation
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPServerTimeoutTests: HTTPTestCase {

    func testStalledHeaderGets408() throws {
        var limits = Self.testLimits
        limits.headerReadTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")  // and then nothing
        let response = client.readResponse(timeout: 5)
        XCTAssertEqual(response?.status, 408, "a client stalling mid-head must get 408 once headerReadTimeout passes")
        XCTAssertTrue(client.waitForClose(), "the server must close after 408")
    }

    func testSilentNewConnectionGets408() throws {
        var limits = Self.testLimits
        limits.headerReadTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        XCTAssertEqual(client.readResponse(timeout: 5)?.status, 408,
                       "a connection that never sends a byte must be dropped after headerReadTimeout")
    }

    func testStalledBodyGets408() throws {
        var limits = Self.testLimits
        limits.bodyReadTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")  // 7 bytes short
        let response = client.readResponse(timeout: 5)
        XCTAssertEqual(response?.status, 408, "a body that stops short must get 408 once bodyReadTimeout passes")
    }

    func testTricklingHeaderIsDroppedDespiteProgress() throws {
        var limits = Self.testLimits
        limits.headerReadTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        // Keep sending one byte every 50 ms: progress must not extend the head deadline.
        var response: RawResponse?
        for _ in 0..<100 where response == nil {
            client.send("a")
            response = client.readResponse(timeout: 0.05)
        }
        XCTAssertEqual(response?.status, 408, "the head deadline is a total, so trickling must end in 408")
    }

    func testIdleKeepAliveConnectionIsClosedSilently() throws {
        var limits = Self.testLimits
        limits.idleTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        XCTAssertTrue(client.waitForClose(timeout: 5), "an idle keep-alive connection must be closed after idleTimeout")
        XCTAssertEqual(client.leftover, "", "closing an idle connection must not send anything")
    }

    func testStalledClientDoesNotBlockOthers() throws {
        // Default 10 s header timeout: the stalled client is still pending while the
        // other one must be served well within 2 s.
        let server = try startServer()
        let stalled = try RawClient(port: server.port)
        stalled.send("GET / HTTP/1.1\r\nHost: x\r\nX-Half")
        XCTAssertTrue(waitUntil { server.openConnections == 1 }, "stalled connection was not accepted")

        let client = HTTPClient(keepAlive: false)
        let response = try client.get(url(server, "/other"), timeout: 2)
        XCTAssertEqual(response.status, 200, "another client must be served while one stalls")
        XCTAssertTrue(stalled.isSilent(for: 0), "the stalled client must still be waiting (not yet dropped)")
    }
}
