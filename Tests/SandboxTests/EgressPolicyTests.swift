import XCTest
@testable import Sandbox

/// Host patterns, the policy's decisions before and after resolution, its JSON
/// shape, and the proxy's request parser.
final class EgressPolicyTests: XCTestCase {
    // MARK: - Host patterns

    func testExactPatternMatchesOnlyThatName() {
        let p = HostPattern("github.com")!
        XCTAssertTrue(p.matches("github.com"))
        XCTAssertTrue(p.matches("GitHub.COM."), "case and a trailing dot do not matter")
        XCTAssertFalse(p.matches("api.github.com"))
        XCTAssertFalse(p.matches("github.com.evil.test"))
        XCTAssertFalse(p.matches("evilgithub.com"))
    }

    func testSuffixPatternMatchesSubdomainsOnly() {
        let p = HostPattern("*.githubusercontent.com")!
        XCTAssertTrue(p.matches("raw.githubusercontent.com"))
        XCTAssertTrue(p.matches("a.b.githubusercontent.com"))
        XCTAssertFalse(p.matches("githubusercontent.com"), "the suffix itself is not a subdomain")
        XCTAssertFalse(p.matches("evilgithubusercontent.com"), "label boundary")
        XCTAssertFalse(p.matches("githubusercontent.com.evil.test"))
    }

    func testAddressPatternMatchesCanonicalForms() {
        let p = HostPattern("203.0.113.7")!
        XCTAssertTrue(p.matches("203.0.113.7"))
        XCTAssertTrue(p.matches("::ffff:203.0.113.7"), "the mapped form is the same address")
        XCTAssertFalse(p.matches("203.0.113.8"))
        XCTAssertTrue(HostPattern("[2001:db8::1]")!.matches("2001:0db8:0:0::1"))
        XCTAssertFalse(HostPattern("example.com")!.matches("93.184.216.34"), "a name pattern never matches a literal")
    }

    func testMalformedPatternsAreRejected() {
        for bad in ["", "*", "*.", "a.*.com", "exa mple.com", "http://github.com", "github.com:443", "github.com/x", "-a.com", "a..com", String(repeating: "a", count: 64) + ".com"] {
            XCTAssertNil(HostPattern(bad), "'\(bad)' must not be a pattern")
        }
    }

    // MARK: - Policy

    func testCompileNamesTheBadEntry() {
        XCTAssertThrowsError(try EgressPolicy(allowHosts: ["ok.test", "bad host"]).compiled()) {
            XCTAssertTrue("\($0)".contains("'bad host'"), "\($0)")
        }
        XCTAssertThrowsError(try EgressPolicy(allowPorts: [0]).compiled()) { XCTAssertTrue("\($0)".contains("allow_ports"), "\($0)") }
        XCTAssertThrowsError(try EgressPolicy(allowPrivateDestinations: ["10.0.0.0/40"]).compiled()) {
            XCTAssertTrue("\($0)".contains("allow_private"), "\($0)")
        }
        XCTAssertThrowsError(try EgressPolicy(staticHosts: ["ghe.corp": "not-an-ip"]).compiled()) {
            XCTAssertTrue("\($0)".contains("static_hosts"), "\($0)")
        }
    }

    func testHostIsCheckedBeforePort() throws {
        let p = try EgressPolicy(allowHosts: ["github.com"]).compiled()
        XCTAssertEqual(p.check(host: "github.com", port: 22).failureKind, .port)
        XCTAssertEqual(p.check(host: "evil.test", port: 443).failureKind, .host)
        XCTAssertEqual(p.check(host: "evil.test", port: 22).failureKind, .host, "an unlisted host is the first thing to say")
        XCTAssertEqual(try p.check(host: "github.com", port: 443).get().description, "github.com")
    }

    func testGlobalAddressesAreConnectedInResolverOrder() throws {
        let p = try EgressPolicy(allowHosts: ["x.test"]).compiled()
        let ips = ["10.0.0.1", "140.82.112.3", "127.0.0.1", "140.82.112.4"].map { IPAddress($0)! }
        let ok = try p.permitted(ips, literal: false).get()
        XCTAssertEqual(ok.map { $0.0.description }, ["140.82.112.3", "140.82.112.4"], "only global addresses, in order")
    }

    func testAllNonGlobalAddressesAreRefusedWithTheirClasses() throws {
        let p = try EgressPolicy(allowHosts: ["x.test"]).compiled()
        let r = p.permitted([IPAddress("127.0.0.1")!, IPAddress("::1")!], literal: false)
        XCTAssertEqual(r.failureMessage, "resolves to 127.0.0.1 (loopback), ::1 (loopback), not allowed")
    }

    func testPrivateExceptionAdmitsOnlyItsRange() throws {
        let p = try EgressPolicy(allowHosts: ["ghe.corp"], allowPrivateDestinations: ["10.20.0.0/16"]).compiled()
        let ok = try p.permitted([IPAddress("10.20.1.2")!], literal: false).get()
        XCTAssertEqual(ok.first?.1?.description, "10.20.0.0/16")
        XCTAssertEqual(p.permitted([IPAddress("10.21.1.2")!], literal: false).failureMessage,
                       "resolves to 10.21.1.2 (private), not allowed")
    }

    func testStaticHostsPinWithoutDNS() throws {
        let p = try EgressPolicy(staticHosts: ["GHE.corp.": "10.20.0.5"]).compiled()
        XCTAssertEqual(EgressResolver.immediate("ghe.corp", policy: p), [IPAddress("10.20.0.5")!])
        XCTAssertEqual(EgressResolver.immediate("198.51.100.1", policy: p), [IPAddress("198.51.100.1")!], "literals need no lookup")
        XCTAssertNil(EgressResolver.immediate("github.com", policy: p))
    }

    func testJSONUsesSnakeCaseKeysAndDefaultsMissingOnes() throws {
        let p = try JSONDecoder().decode(EgressPolicy.self, from: Data(#"{"allow_hosts":["a.test"],"allow_private":["10.0.0.0/8"],"max_bytes":1048576}"#.utf8))
        XCTAssertEqual(p.allowHosts, ["a.test"])
        XCTAssertEqual(p.allowPorts, [443], "ports default to 443")
        XCTAssertEqual(p.allowPrivateDestinations, ["10.0.0.0/8"])
        XCTAssertEqual(p.maxBytes, 1 << 20)
        XCTAssertEqual(p.idleTimeout, 600)
        let noIdle = try JSONDecoder().decode(EgressPolicy.self, from: Data(#"{"idle_timeout_s":null}"#.utf8))
        XCTAssertNil(noIdle.idleTimeout, "an explicit null turns the idle timeout off")
        let round = try JSONDecoder().decode(EgressPolicy.self, from: JSONEncoder().encode(EgressPolicy.daemonDefault))
        XCTAssertEqual(round, EgressPolicy.daemonDefault)
    }

    func testDaemonDefaultCoversGitHub() throws {
        let p = try EgressPolicy.daemonDefault.compiled()
        for host in ["github.com", "api.github.com", "codeload.github.com", "objects.githubusercontent.com", "raw.githubusercontent.com"] {
            XCTAssertNotNil(try? p.check(host: host, port: 443).get(), "\(host):443 should be allowed by default")
        }
        XCTAssertNil(try? p.check(host: "gist.github.com", port: 443).get(), "only the listed GitHub hosts")
        XCTAssertNil(try? p.check(host: "github.com", port: 80).get(), "only 443 by default")
    }

    // MARK: - Request parsing

    func parse(_ s: String) throws -> EgressRequest { try EgressRequest.parse(Array(s.utf8)) }

    func testConnectRequestIsParsed() throws {
        let r = try parse("CONNECT GitHub.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n")
        XCTAssertEqual(r.mode, .connect)
        XCTAssertEqual(r.host, "github.com")
        XCTAssertEqual(r.port, 443)
        let v6 = try parse("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n")
        XCTAssertEqual(v6.host, "2001:db8::1")
        XCTAssertEqual(v6.port, 8443)
    }

    func testMalformedRequestsAreRejected() {
        for bad in ["CONNECT github.com HTTP/1.1\r\n\r\n", "CONNECT github.com:0 HTTP/1.1\r\n\r\n",
                    "CONNECT github.com:99999 HTTP/1.1\r\n\r\n", "CONNECT github.com:443\r\n\r\n",
                    "CONNECT  github.com:443 HTTP/1.1\r\n\r\n", "CONNECT github.com:443 HTTP/2\r\n\r\n",
                    "CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n", "CONNECT bad_host!:443 HTTP/1.1\r\n\r\n",
                    "GET /path HTTP/1.1\r\nHost: x\r\n\r\n", "GET https://github.com/ HTTP/1.1\r\n\r\n",
                    "GET http://user:pw@github.com/ HTTP/1.1\r\n\r\n", "CONNECT a.test:443 HTTP/1.1\r\n folded\r\n\r\n",
                    "\r\n\r\n", "CONNECT a.test:443 HTTP/1.1\r\nNoColon\r\n\r\n", "CONNECT a.test:\u{7f}443 HTTP/1.1\r\n\r\n"] {
            XCTAssertThrowsError(try parse(bad), "should be rejected: \(bad.debugDescription)")
        }
    }

    func testAbsoluteURIRequestIsRewrittenToOriginForm() throws {
        let r = try parse("GET http://Example.test:8080/a/b?q=1 HTTP/1.1\r\nHost: wrong\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic x\r\nAccept: */*\r\n\r\n")
        XCTAssertEqual(r.mode, .forward)
        XCTAssertEqual(r.host, "example.test")
        XCTAssertEqual(r.port, 8080)
        XCTAssertEqual(String(decoding: r.upstreamHead, as: UTF8.self),
                       "GET /a/b?q=1 HTTP/1.1\r\nHost: example.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                       "origin form, Host from the URL, proxy headers dropped, one request per connection")
        XCTAssertEqual(try parse("GET http://example.test HTTP/1.0\r\n\r\n").port, 80, "port 80 by default")
    }
}

extension Result where Failure == EgressRefusal {
    var failureKind: EgressRefusal.Kind? { if case .failure(let e) = self { return e.kind } else { return nil } }
    var failureMessage: String? { if case .failure(let e) = self { return e.message } else { return nil } }
}
