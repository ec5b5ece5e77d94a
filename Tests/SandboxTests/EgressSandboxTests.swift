import XCTest
import Foundation
@testable import Sandbox

/// `proxy` network mode in real sandboxes: what goes through the egress proxy,
/// what is refused and why, and that nothing goes around it. Every destination is
/// a listener of this test on the host; nothing leaves the machine.
final class EgressSandboxTests: XCTestCase {
    typealias S = SandboxTestSupport
    typealias E = EgressTestSupport

    var server: TestTCPServer!

    override func setUpWithError() throws {
        continueAfterFailure = true
        server = try TestTCPServer(mode: .echo)
    }

    override func tearDown() {
        server?.shutdown()
        server = nil
    }

    static var curl: String? {
        ["/usr/bin/curl", "/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    // MARK: - Through the proxy

    func testCurlReachesAllowedEndpointThroughConnectTunnel() throws {
        try XCTSkipIf(Self.curl == nil, "curl is not installed (make deps installs it)")
        let web = try TestTCPServer(mode: .http(body: "hello through the tunnel"))
        defer { web.shutdown() }
        let r = S.run("curl -sS --proxytunnel http://web.test:\(web.port)/") {
            $0.network = .proxy
            $0.egress = E.loopbackPolicy(name: "web.test", port: web.port)
        }
        XCTAssertEqual(r.out, "hello through the tunnel", "curl with the proxy environment should tunnel to an allowed endpoint: \(r.err)")
    }

    func testCurlPlainHTTPIsForwardedWhenPortAllowed() throws {
        try XCTSkipIf(Self.curl == nil, "curl is not installed (make deps installs it)")
        let web = try TestTCPServer(mode: .http(body: "hello by forwarding"))
        defer { web.shutdown() }
        let r = S.run("curl -sS http://web.test:\(web.port)/page") {
            $0.network = .proxy
            $0.egress = E.loopbackPolicy(name: "web.test", port: web.port)
        }
        XCTAssertEqual(r.out, "hello by forwarding", "a plain-HTTP request should be forwarded to an allowed endpoint: \(r.err)")
    }

    func testTunnelCarriesDataBothWays() {
        let r = E.runPython("""
        s, status, rest = tunnel("echo.test", \(server.port))
        print(status)
        payload = os.urandom(200000)
        s.sendall(payload)
        got = rest
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk: break
            got += chunk
        print("same" if got == payload else "differs %d" % len(got))
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertEqual(r.out, "HTTP/1.1 200 Connection established\nsame\n", "200 KB should echo back intact through relay and proxy: \(r.err)")
    }

    func testDecisionsAreInTheSandboxResult() {
        let r = E.runPython("""
        s, status, rest = tunnel("echo.test", \(server.port))
        s.sendall(b"ping"); s.recv(4); s.close()
        s, status, rest = tunnel("elsewhere.test", 443)
        """, policy: E.loopbackPolicy(port: server.port))
        let records = r.egress?.connections ?? []
        XCTAssertEqual(records.count, 2, "one record per connection: \(records)")
        let allowed = records.first { $0.host == "echo.test" }
        XCTAssertEqual(allowed?.outcome, .allowed)
        XCTAssertEqual(allowed?.address, "127.0.0.1")
        XCTAssertEqual(allowed?.bytesUp, 4, "bytes to the destination")
        XCTAssertEqual(allowed?.bytesDown, 4, "bytes from the destination")
        XCTAssertEqual(allowed?.rule, "allow_hosts echo.test, allow_private 127.0.0.1")
        let denied = records.first { $0.host == "elsewhere.test" }
        XCTAssertEqual(denied?.outcome, .denied)
        XCTAssertEqual(denied?.rule, "host not in allowlist")
    }

    // MARK: - Refusals

    func testHostNotInAllowlistIsRefusedWith403NamingTheRule() {
        let r = E.runPython("""
        s, status, rest = tunnel("api.evil.test", 443)
        print(status); print(body_of(s, rest))
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertTrue(r.out.hasPrefix("HTTP/1.1 403 "), "an unlisted host must get 403: \(r.out) \(r.err)")
        XCTAssertTrue(r.out.contains("coven egress: api.evil.test:443 denied: host not in allowlist"),
                      "the answer must name the rule: \(r.out)")
    }

    func testListedNameResolvingToLoopbackIsRefused() {
        // "localhost" is on the list, but it resolves to 127.0.0.1 and there is no exception for it.
        var policy = EgressPolicy(allowHosts: ["localhost"], allowPorts: [Int(server.port)])
        policy.allowPrivateDestinations = []
        let r = E.runPython("""
        s, status, rest = tunnel("localhost", \(server.port))
        print(status); print(body_of(s, rest))
        """, policy: policy)
        XCTAssertTrue(r.out.hasPrefix("HTTP/1.1 403 "), "a name resolving to loopback must be refused: \(r.out) \(r.err)")
        XCTAssertTrue(r.out.contains("resolves to 127.0.0.1 (loopback), not allowed"), "the answer must name the address and class: \(r.out)")
        XCTAssertEqual(server.connections, 0, "the host's loopback listener was reached")
    }

    func testLiteralMetadataAddressIsRefusedWithoutException() {
        let policy = EgressPolicy(allowHosts: ["169.254.169.254"], allowPorts: [80])
        let r = E.runPython("""
        s, status, rest = tunnel("169.254.169.254", 80)
        print(status); print(body_of(s, rest))
        """, policy: policy)
        XCTAssertTrue(r.out.hasPrefix("HTTP/1.1 403 "), "the metadata address must be refused: \(r.out) \(r.err)")
        XCTAssertTrue(r.out.contains("169.254.169.254 (link-local) not allowed"), "the answer must say link-local: \(r.out)")
        XCTAssertEqual(r.egress?.totals.deniedAddress, 1)
    }

    func testLiteralLoopbackAddressIsRefusedWithoutException() {
        let policy = EgressPolicy(allowHosts: ["127.0.0.1"], allowPorts: [Int(server.port)])
        let r = E.runPython("""
        s, status, rest = tunnel("127.0.0.1", \(server.port))
        print(status); print(body_of(s, rest))
        """, policy: policy)
        XCTAssertTrue(r.out.contains("address 127.0.0.1 (loopback) not allowed"), "a literal loopback CONNECT must be refused: \(r.out) \(r.err)")
        XCTAssertEqual(server.connections, 0, "the host's loopback listener was reached")
    }

    func testPortNotAllowedIsRefused() {
        let r = E.runPython("""
        s, status, rest = tunnel("echo.test", 22)
        print(status); print(body_of(s, rest))
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertTrue(r.out.contains("echo.test:22 denied: port 22 not allowed"), "an unlisted port must be refused with the rule: \(r.out) \(r.err)")
    }

    // MARK: - Nothing around the proxy

    func testDirectTCPToHostLoopbackListenerFails() {
        // Inside, 127.0.0.1 is the sandbox's own loopback: the host's listener is not there.
        let r = E.runPython("""
        try:
            socket.create_connection(("127.0.0.1", \(server.port)), timeout=3); print("connected")
        except OSError as e:
            print("failed", e.errno)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertTrue(r.out.hasPrefix("failed"), "direct TCP to the host's loopback listener must fail: \(r.out) \(r.err)")
        XCTAssertEqual(server.connections, 0, "the host listener was reached directly")
    }

    func testDirectTCPToHostAddressFails() throws {
        let external = AddressClassifier.hostAddresses().first { if case .v4(let v) = $0 { return v >> 24 != 127 } else { return false } }
        try XCTSkipIf(external == nil, "the host has no non-loopback IPv4 address")
        let any = try TestTCPServer(mode: .echo, anyAddress: true)
        defer { any.shutdown() }
        let r = E.runPython("""
        try:
            socket.create_connection(("\(external!)", \(any.port)), timeout=3); print("connected")
        except OSError as e:
            print("failed", e.errno)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertTrue(r.out.hasPrefix("failed \(ENETUNREACH)"), "direct TCP to the host's address \(external!) must be unreachable: \(r.out) \(r.err)")
        XCTAssertEqual(any.connections, 0, "the host listener was reached directly")
    }

    func testUDPToOutsideAddressIsUnreachable() {
        let r = E.runPython("""
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for dst in [("192.0.2.1", 53), ("8.8.8.8", 53)]:
            try:
                u.sendto(b"x", dst); print("sent")
            except OSError as e:
                print("failed", e.errno)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertEqual(r.out, "failed \(ENETUNREACH)\nfailed \(ENETUNREACH)\n", "UDP must have no route out: \(r.out) \(r.err)")
    }

    func testRawSocketIsNotPermitted() {
        let r = E.runPython("""
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("opened")
        except OSError as e:
            print("failed", e.errno)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertEqual(r.out, "failed \(EPERM)\n", "raw sockets must be refused with EPERM: \(r.err)")
    }

    // MARK: - The relay and the environment

    func testProxyEnvironmentIsSet() {
        let r = S.run("env | grep -i _proxy= | sort") { $0.network = .proxy }
        XCTAssertEqual(r.out, """
        ALL_PROXY=http://127.0.0.1:3128
        HTTPS_PROXY=http://127.0.0.1:3128
        HTTP_PROXY=http://127.0.0.1:3128
        NO_PROXY=localhost,127.0.0.1
        all_proxy=http://127.0.0.1:3128
        http_proxy=http://127.0.0.1:3128
        https_proxy=http://127.0.0.1:3128
        no_proxy=localhost,127.0.0.1

        """, "proxy variables in both cases: \(r.err)")
    }

    func testRelayOwnsItsPortBeforeTheCommandStarts() {
        let r = E.runPython("""
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", 3128)); print("bound")
        except OSError as e:
            print("failed", e.errno)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertEqual(r.out, "failed \(EADDRINUSE)\n", "the relay must hold 127.0.0.1:3128 before the command runs: \(r.err)")
    }

    func testRelayRunsWithoutPrivileges() {
        let r = S.run("""
        for p in /proc/[0-9]*; do
          if [ "$(cat $p/comm)" = coven-relay ]; then grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' $p/status; fi
        done
        """) { $0.network = .proxy }
        let lines = r.out.split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") }
        XCTAssertEqual(lines, ["Uid: 1000 1000 1000 1000", "CapEff: 0000000000000000", "CapBnd: 0000000000000000",
                               "NoNewPrivs: 1", "Seccomp: 2"], "the relay must run as the sandbox user, capability-free, filtered: \(r.out) \(r.err)")
    }

    func testNoRelayOutsideProxyMode() {
        let r = S.run("cat /proc/[0-9]*/comm | grep -c coven-relay; ls /run")
        XCTAssertEqual(r.out, "0\n", "network none must not start a relay or bind a proxy socket: \(r.out)")
    }

    // MARK: - Robustness

    func testMalformedConnectGets400AndTheProxyKeepsServing() {
        let r = E.runPython("""
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(b"CONNECT not a request\\r\\n\\r\\n")
        print(body_of(s, b"").split("\\r\\n")[0])
        s, status, rest = tunnel("echo.test", \(server.port))
        s.sendall(b"still"); print(status, s.recv(5).decode())
        """, policy: E.loopbackPolicy(port: server.port))
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("HTTP/1.1 400 ") == true, "a malformed CONNECT must get 400: \(r.out) \(r.err)")
        XCTAssertEqual(lines.last, "HTTP/1.1 200 Connection established still", "the proxy must keep serving after a malformed request")
    }

    func testSlowClientTimesOutWithoutHoldingUpOthers() {
        var policy = E.loopbackPolicy(port: server.port)
        policy.headerTimeout = 1
        let r = E.runPython("""
        slow = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        slow.sendall(b"CONNECT echo.te")
        s, status, rest = tunnel("echo.test", \(server.port))
        s.sendall(b"fast"); print(status, s.recv(4).decode())
        print(body_of(slow, b"").split("\\r\\n")[0])
        """, policy: policy)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "HTTP/1.1 200 Connection established fast", "a slow client must not hold up others: \(r.out) \(r.err)")
        XCTAssertTrue(lines.last?.hasPrefix("HTTP/1.1 408 ") == true, "a client that never finishes its head gets 408: \(r.out)")
    }

    func testFiftyConcurrentTunnels() {
        let r = E.runPython("""
        socks = []
        for i in range(50):
            s, status, rest = tunnel("echo.test", \(server.port))
            if not status.startswith("HTTP/1.1 200"):
                print("tunnel", i, status); sys.exit(1)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(("tunnel-%02d;" % i).encode())
        ok = 0
        for i, s in enumerate(socks):
            want = ("tunnel-%02d;" % i).encode()
            got = b""
            while len(got) < len(want):
                chunk = s.recv(64)
                if not chunk: break
                got += chunk
            ok += got == want
        print(ok)
        """, policy: E.loopbackPolicy(port: server.port))
        XCTAssertEqual(r.out, "50\n", "50 tunnels open at once must each carry their own data: \(r.err)")
        XCTAssertEqual(r.egress?.totals.connectionsAllowed, 50)
    }
}
