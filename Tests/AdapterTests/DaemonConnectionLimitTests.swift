import XCTest
import Foundation
import Glibc
@testable import Adapter
@testable import HTTP

/// The daemon's routes behind the default connection limits: connections that sit idle
/// (after a request, or without ever sending one) must not keep a signed delivery out.
final class DaemonConnectionLimitTests: XCTestCase {
    let assigned = WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]")

    /// Room for 1000 client sockets plus the server's side of as many (the daemon's unit
    /// has LimitNOFILE=65536; a test runner may start with 1024).
    override func setUpWithError() throws {
        var limit = rlimit()
        XCTAssertEqual(getrlimit(RLIMIT_NOFILE_VALUE, &limit), 0)
        let wanted: rlim_t = 8192
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &limit), 0, "cannot raise RLIMIT_NOFILE: \(errno)")
        }
        try XCTSkipIf(limit.rlim_cur < 2600, "RLIMIT_NOFILE hard limit \(limit.rlim_max) is too low for 1000 connections")
    }

    private var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }

    /// 1000 connections that each had one answer and now sit idle (keep-alive); the server
    /// may close some of them meanwhile.
    func idleConnections(_ f: DaemonRouteFixture, count: Int = 1000) throws -> [RawClient] {
        try (0..<count).map { _ in
            let c = try RawClient(port: f.server.port)
            c.send("GET /healthz HTTP/1.1\r\nHost: coven\r\n\r\n")
            _ = c.readResponse(timeout: 2)
            return c
        }
    }

    /// Delivers the signed `issues.assigned` fixture; its status and how long the answer took.
    func timedDelivery(_ f: DaemonRouteFixture, id: String) throws -> (status: Int, seconds: TimeInterval, text: String) {
        let started = Date()
        let r = try f.deliver(event: "issues", delivery: id, body: assigned)
        return (r.status, Date().timeIntervalSince(started), r.text ?? "")
    }

    func testSignedWebhookGets202WithAThousandIdleKeepAliveConnections() throws {
        let f = try DaemonRouteFixture()
        let idle = try idleConnections(f)
        let r = try timedDelivery(f, id: "d-crowded")
        XCTAssertEqual(r.status, 202, "idle keep-alive connections must not keep a signed delivery out: \(r.text)")
        XCTAssertLessThan(r.seconds, 1, "the delivery must be answered at once, not after idle connections time out")
        withExtendedLifetime(idle) {}
    }

    func testSignedWebhookGets202WithAThousandIdleConnectionsBehindAProxy() throws {
        // Behind a reverse proxy every connection comes from one address: the per-client
        // cap is raised to the whole limit, and idle connections must still give way.
        var limits = HTTPServerLimits(shutdownGrace: 2, lingerTimeout: 1)
        limits.maxConnectionsPerClient = limits.maxConnections
        let f = try DaemonRouteFixture(limits: limits)
        let idle = try idleConnections(f)
        let r = try timedDelivery(f, id: "d-proxied")
        XCTAssertEqual(r.status, 202, "with the client cap off, the oldest idle connections must make room: \(r.text)")
        XCTAssertLessThan(r.seconds, 1, "the delivery must be answered at once")
        withExtendedLifetime(idle) {}
    }

    func testSignedWebhookGets202WithAThousandSilentConnections() throws {
        let f = try DaemonRouteFixture()
        // Connected, never a byte sent: they would each hold a slot for the header timeout.
        let silent = try (0..<1000).map { _ in try RawClient(port: f.server.port) }
        XCTAssertTrue(eventually(timeout: 10) { f.server.acceptedConnections == 1000 }, "the server did not take all 1000 in")
        let r = try timedDelivery(f, id: "d-silent")
        XCTAssertEqual(r.status, 202, "connections that never sent a request must not keep a signed delivery out: \(r.text)")
        XCTAssertLessThan(r.seconds, 1, "the delivery must be answered at once")
        withExtendedLifetime(silent) {}
    }
}
