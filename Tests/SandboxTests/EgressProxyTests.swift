import XCTest
import Foundation
@testable import Sandbox

/// The egress proxy on its own (no sandbox): limits, caps and the log, driven
/// through its unix socket by this process.
final class EgressProxyTests: XCTestCase {
    typealias E = EgressTestSupport

    var dir: String!
    var server: TestTCPServer!

    override func setUpWithError() throws {
        dir = try E.socketDirectory()
        server = try TestTCPServer(mode: .echo)
    }

    override func tearDown() {
        server?.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func proxy(_ policy: EgressPolicy, peerUID: uid_t? = nil) throws -> EgressProxy {
        try EgressProxy(policy: policy, socketPath: dir + "/p.sock", peerUID: peerUID)
    }

    func tunnel(_ p: EgressProxy, _ host: String = "echo.test", port: UInt16? = nil) throws -> (Int32, String) {
        let fd = try ProxyClient.connect(p.socketPath)
        ProxyClient.send(fd, "CONNECT \(host):\(port ?? server.port) HTTP/1.1\r\n\r\n")
        return (fd, ProxyClient.readHead(fd))
    }

    func testSocketIsPrivateToItsOwner() throws {
        let p = try proxy(E.loopbackPolicy(port: server.port))
        defer { p.close() }
        var st = stat()
        XCTAssertEqual(stat(p.socketPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the proxy socket must be 0600")
    }

    func testWrongPeerUIDIsRefused() throws {
        let p = try proxy(E.loopbackPolicy(port: server.port), peerUID: getuid() &+ 4242)
        defer { p.close() }
        let (fd, head) = try tunnel(p)
        Glibc.close(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 403 "), "a client that is not the sandbox's uid must be refused: \(head)")
        XCTAssertEqual(server.connections, 0)
        p.close()
        XCTAssertEqual(p.report().totals.deniedPeer, 1)
    }

    func testOversizedRequestHeadIsRefusedWith431() throws {
        let p = try proxy(E.loopbackPolicy(port: server.port))
        defer { p.close() }
        let fd = try ProxyClient.connect(p.socketPath)
        defer { Glibc.close(fd) }
        ProxyClient.send(fd, "CONNECT echo.test:\(server.port) HTTP/1.1\r\n" + String(repeating: "X-Pad: " + String(repeating: "a", count: 1000) + "\r\n", count: 20))
        let head = ProxyClient.readHead(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 431 "), "a head past 16 KiB must get 431: \(head.prefix(200))")
    }

    func testConnectionsPastTheLimitGet503() throws {
        var policy = E.loopbackPolicy(port: server.port)
        policy.maxConnections = 3
        let p = try proxy(policy)
        defer { p.close() }
        var open: [Int32] = []
        defer { open.forEach { Glibc.close($0) } }
        for _ in 0..<3 {
            let (fd, head) = try tunnel(p)
            open.append(fd)
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 "), head)
        }
        let (fd, head) = try tunnel(p)
        open.append(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 503 "), "the fourth concurrent connection must get 503: \(head)")
        XCTAssertTrue(head.contains("more than 3 concurrent connections"), head)
    }

    func testByteCapClosesOpenTunnelsAndRefusesNewOnes() throws {
        var policy = E.loopbackPolicy(port: server.port)
        policy.maxBytes = 1000
        let p = try proxy(policy)
        defer { p.close() }
        let (fd, head) = try tunnel(p)
        defer { Glibc.close(fd) }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 "), head)
        ProxyClient.send(fd, String(repeating: "x", count: 400))
        XCTAssertEqual(ProxyClient.readExactly(fd, 400).count, 400, "800 bytes moved, under the cap")
        ProxyClient.send(fd, String(repeating: "y", count: 400))
        let rest = ProxyClient.readExactly(fd, 400)
        XCTAssertLessThanOrEqual(rest.count, 200, "at most the 200 bytes left under the cap may move")
        let (fd2, head2) = try tunnel(p)
        Glibc.close(fd2)
        XCTAssertTrue(head2.hasPrefix("HTTP/1.1 403 ") && head2.contains("byte cap"), "new requests past the cap get 403 naming it: \(head2)")
        p.close()
        let report = p.report()
        XCTAssertTrue(report.byteCapReached)
        XCTAssertLessThanOrEqual(report.totals.bytesUp + report.totals.bytesDown, 1000, "the cap is exact")
        XCTAssertEqual(report.connections.first?.closeReason, "byte cap reached (1000 bytes)")
        XCTAssertEqual(report.totals.byteCapCloses, 1)
    }

    func testIdleTunnelIsClosed() throws {
        var policy = E.loopbackPolicy(port: server.port)
        policy.idleTimeout = 0.3
        let p = try proxy(policy)
        defer { p.close() }
        let (fd, head) = try tunnel(p)
        defer { Glibc.close(fd) }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 "), head)
        XCTAssertEqual(ProxyClient.readAll(fd), "", "an idle tunnel must be closed by the proxy (EOF, not the 10 s read timeout)")
        p.close()
        XCTAssertEqual(p.report().connections.first?.closeReason, "idle timeout")
    }

    func testCloseEndsOpenTunnelsAndFinalizesTheLog() throws {
        let p = try proxy(E.loopbackPolicy(port: server.port))
        let (fd, _) = try tunnel(p)
        defer { Glibc.close(fd) }
        ProxyClient.send(fd, "abc")
        XCTAssertEqual(ProxyClient.readExactly(fd, 3), Array("abc".utf8))
        XCTAssertEqual(p.counters.tunnelsOpen, 1, "a live tunnel shows in the gauge")
        p.close()
        let r = p.report()
        XCTAssertEqual(r.connections.count, 1)
        XCTAssertEqual(r.connections.first?.closeReason, "sandbox ended")
        XCTAssertEqual(r.totals.tunnelsOpen, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p.socketPath), "the socket is removed")
    }

    func testIPv4MappedLiteralIsJudgedAsIPv4() throws {
        let p = try proxy(EgressPolicy(allowHosts: ["127.0.0.1"], allowPorts: [Int(server.port)]))
        defer { p.close() }
        let (fd, head) = try tunnel(p, "[::ffff:127.0.0.1]")
        Glibc.close(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 403 ") && head.contains("::ffff:127.0.0.1 (loopback) not allowed"),
                      "an IPv4-mapped loopback literal must be refused as loopback: \(head)")
        XCTAssertEqual(server.connections, 0)
    }

    func testUnresolvableNameIsA502() throws {
        let p = try proxy(EgressPolicy(allowHosts: ["no-such-host.invalid"], allowPorts: [443]))
        defer { p.close() }
        let (fd, head) = try tunnel(p, "no-such-host.invalid", port: 443)
        Glibc.close(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 502 ") && head.contains("cannot resolve no-such-host.invalid"), head)
    }

    func testRefusedConnectIsA502NamingTheAddress() throws {
        let closed = try TestTCPServer(mode: .echo)
        let port = closed.port
        closed.shutdown()
        let p = try proxy(E.loopbackPolicy(port: port))
        defer { p.close() }
        let (fd, head) = try tunnel(p, port: port)
        Glibc.close(fd)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 502 ") && head.contains("connect to 127.0.0.1:\(port) failed: Connection refused"), head)
    }

    func testReportIsJSONWithTheProposedKeys() throws {
        let p = try proxy(E.loopbackPolicy(port: server.port))
        let (fd, _) = try tunnel(p, "other.test")
        Glibc.close(fd)
        p.close()
        let obj = try JSONSerialization.jsonObject(with: p.report().jsonData()) as? [String: Any]
        let first = (obj?["connections"] as? [[String: Any]])?.first
        XCTAssertEqual(first?["outcome"] as? String, "denied")
        XCTAssertEqual(first?["rule"] as? String, "host not in allowlist")
        XCTAssertEqual(first?["status"] as? Int, 403)
        XCTAssertNotNil(first?["duration_ms"])
        XCTAssertEqual((obj?["totals"] as? [String: Any])?["denied_host"] as? Int, 1)
        XCTAssertEqual((obj?["policy"] as? [String: Any])?["allow_hosts"] as? [String], ["echo.test"])
    }

    func testOneProxysCapDoesNotAffectAnother() throws {
        var capped = E.loopbackPolicy(port: server.port)
        capped.maxBytes = 10
        let a = try EgressProxy(policy: capped, socketPath: dir + "/a.sock")
        let b = try EgressProxy(policy: E.loopbackPolicy(port: server.port), socketPath: dir + "/b.sock")
        defer { a.close(); b.close() }
        let (fa, _) = try tunnel(a)
        defer { Glibc.close(fa) }
        ProxyClient.send(fa, String(repeating: "x", count: 100))
        _ = ProxyClient.readAll(fa)
        XCTAssertEqual(try tunnel(a).1.prefix(12), "HTTP/1.1 403", "the capped proxy refuses new tunnels")
        let (fb, head) = try tunnel(b)
        defer { Glibc.close(fb) }
        ProxyClient.send(fb, "independent")
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 "), "another sandbox's proxy still tunnels: \(head)")
        XCTAssertEqual(ProxyClient.readExactly(fb, 11), Array("independent".utf8))
    }

    func testProcessWideMetricsCountEveryProxy() throws {
        let before = EgressMetrics.snapshot()
        let p = try proxy(E.loopbackPolicy(port: server.port))
        let (fd, _) = try tunnel(p, "denied.test")
        Glibc.close(fd)
        p.close()
        let after = EgressMetrics.snapshot()
        XCTAssertGreaterThanOrEqual(after.connectionsDenied - before.connectionsDenied, 1)
        XCTAssertGreaterThanOrEqual(after.deniedHost - before.deniedHost, 1)
    }
}
