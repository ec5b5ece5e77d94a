// Idle connections give way to new ones; one client address cannot take every slot.
// Raw sockets on 127.0.0.1 (other loopback addresses stand in for other clients).
import Foundation
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPServerEvictionTests: HTTPTestCase {
    func limits(max: Int, perClient: Int? = nil) -> HTTPServerLimits {
        var l = Self.testLimits
        l.maxConnections = max
        l.maxConnectionsPerClient = perClient ?? max
        return l
    }

    /// A connection that has had one answer and now sits idle (keep-alive).
    func idleKeepAlive(_ server: HTTPServer, from source: String? = nil) throws -> RawClient {
        let client = try RawClient(port: server.port, from: source)
        client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        return client
    }

    /// A connection in the middle of sending a request head.
    func busy(_ server: HTTPServer, from source: String? = nil) throws -> RawClient {
        let client = try RawClient(port: server.port, from: source)
        client.send("GET /slow HTTP/1.1\r\n")
        return client
    }

    func testIdleKeepAliveConnectionMakesRoomForANewOne() throws {
        let server = try startServer(limits: limits(max: 2))
        let oldest = try idleKeepAlive(server)
        let newer = try idleKeepAlive(server)
        XCTAssertTrue(waitUntil { server.idleConnections == 2 })
        let response = try HTTPClient(keepAlive: false).get(url(server, "/new"), timeout: 5)
        XCTAssertEqual(response.status, 200, "with every slot held by an idle connection a new request must still be served")
        XCTAssertTrue(oldest.waitForClose(timeout: 2), "the connection idle the longest must be the one closed")
        XCTAssertTrue(newer.isSilent(for: 0.2), "only one connection is closed for one newcomer")
        XCTAssertEqual(server.statistics.idleEvictions, 1)
    }

    func testIdleKeepAliveGoesBeforeASilentConnection() throws {
        let server = try startServer(limits: limits(max: 2))
        let silent = try RawClient(port: server.port)  // older, but never spoke
        XCTAssertTrue(waitUntil { server.openConnections == 1 })
        let keptAlive = try idleKeepAlive(server)
        XCTAssertTrue(waitUntil { server.idleConnections == 2 })
        _ = try HTTPClient(keepAlive: false).get(url(server, "/new"), timeout: 5)
        XCTAssertTrue(keptAlive.waitForClose(timeout: 2), "an idle keep-alive connection must be evicted first")
        XCTAssertTrue(silent.isSilent(for: 0.2), "the silent connection must survive while a keep-alive one could go")
    }

    func testSilentConnectionMakesRoomWhenNothingElseIsIdle() throws {
        let server = try startServer(limits: limits(max: 1))
        let silent = try RawClient(port: server.port)
        XCTAssertTrue(waitUntil { server.idleConnections == 1 })
        let response = try HTTPClient(keepAlive: false).get(url(server, "/new"), timeout: 5)
        XCTAssertEqual(response.status, 200, "a connection that never sent a byte must give way to one that does")
        XCTAssertTrue(silent.waitForClose(timeout: 2))
    }

    func testBusyConnectionsAreNotEvicted() throws {
        let server = try startServer(limits: limits(max: 2))
        let first = try busy(server)
        let second = try busy(server)
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 })
        let third = try RawClient(port: server.port)
        XCTAssertEqual(third.readResponse()?.status, 503, "with every connection mid-request a newcomer gets 503")
        first.send("Host: x\r\n\r\n")
        XCTAssertEqual(first.readResponse()?.status, 200, "a request in progress must not be cut to make room")
        withExtendedLifetime(second) {}
    }

    func testPerClientCapClosesThatClientsIdleConnection() throws {
        let server = try startServer(limits: limits(max: 100, perClient: 2))
        let oldest = try idleKeepAlive(server)
        let newer = try idleKeepAlive(server)
        XCTAssertTrue(waitUntil { server.idleConnections == 2 })
        let third = try RawClient(port: server.port)
        third.send("GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(third.readResponse()?.status, 200, "a client at its cap is served by closing its own idle connection")
        XCTAssertTrue(oldest.waitForClose(timeout: 2), "the client's longest-idle connection must go")
        // The server counts the closed connection out just after the client sees it close.
        XCTAssertTrue(waitUntil { server.openConnections == 2 }, "the client stays at its cap: \(server.openConnections) open")
        withExtendedLifetime(newer) {}
    }

    func testPerClientCapRefusesAClientWhoseConnectionsAreAllBusy() throws {
        let server = try startServer(limits: limits(max: 100, perClient: 2))
        let held = try [busy(server), busy(server)]
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 })
        let third = try RawClient(port: server.port)
        let response = third.readResponse()
        XCTAssertEqual(response?.status, 503, "a third busy connection from one address is refused")
        XCTAssertTrue(response?.text.contains("your address") == true, "the refusal says why: \(response?.text ?? "")")
        XCTAssertEqual(server.statistics.refusedClientLimit, 1)
        withExtendedLifetime(held) {}
    }

    func testPerClientCapLeavesOtherClientsAlone() throws {
        let server = try startServer(limits: limits(max: 100, perClient: 2))
        let held = try [busy(server, from: "127.0.0.2"), busy(server, from: "127.0.0.2")]
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 })
        let other = try RawClient(port: server.port, from: "127.0.0.3")
        other.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(other.readResponse()?.status, 200, "one address at its cap must not affect another address")
        withExtendedLifetime(held) {}
    }

    func testResponsesCloseTheirConnectionWhenSlotsRunLow() throws {
        // 32 slots keep 2 in reserve: with 29 busy connections a 30th is the last before it.
        let server = try startServer(limits: limits(max: 32))
        let held = try (0..<29).map { _ in try busy(server) }
        XCTAssertTrue(waitUntil { server.openConnections == 29 && server.idleConnections == 0 })
        let client = try RawClient(port: server.port)
        client.send("GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.closesConnection, true, "near the limit a response must not leave an idle connection behind")
        withExtendedLifetime(held) {}
    }
}
