import XCTest
import Foundation
@testable import Sandbox

/// `sandbox exec --network proxy` as a user runs it.
final class EgressCLITests: XCTestCase {
    func cli(_ args: [String]) throws -> SandboxTestSupport.ProcessRun {
        try SandboxTestSupport.runProcess(CLITests.binary, args)
    }

    func testProxyOptionsWithoutProxyNetworkAreAUsageError() throws {
        let r = try cli(["sandbox", "exec", "--allow-host", "github.com", "--", "true"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("need --network proxy"), r.err)
    }

    func testBadAllowHostIsAUsageError() throws {
        let r = try cli(["sandbox", "exec", "--network", "proxy", "--allow-host", "http://github.com/", "--", "true"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("--allow-host: 'http://github.com/' is not a host name"), r.err)
    }

    func testProxyModeWorksRootless() throws {
        try XCTSkipUnless(SandboxTestSupport.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                          "needs root to switch to an unprivileged user with setpriv")
        let server = try TestTCPServer(mode: .http(body: "rootless ok"))
        defer { server.shutdown() }
        let r = try SandboxTestSupport.runProcess("/usr/bin/setpriv", [
            "--reuid", "65534", "--regid", "65534", "--clear-groups", CLITests.binary, "sandbox", "exec",
            "--network", "proxy", "--allow-host", "web.test", "--allow-port", String(server.port),
            "--allow-private", "127.0.0.1", "--egress-host", "web.test=127.0.0.1", "--",
            "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://web.test:\(server.port)/', timeout=10).read().decode())"])
        XCTAssertEqual(r.out, "rootless ok\n", "an unprivileged caller's proxy sandbox should reach the allowed endpoint: \(r.err)")
    }

    func testEgressLogRecordsTheDecisions() throws {
        let dir = try SandboxTestSupport.scratchDirectory("egress-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try TestTCPServer(mode: .http(body: "cli ok"))
        defer { server.shutdown() }
        let script = """
        import socket
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(b"GET http://web.test:\(server.port)/ HTTP/1.1\\r\\n\\r\\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c: break
            data += c
        print(data.split(b"\\r\\n\\r\\n", 1)[1].decode())
        """
        let r = try cli(["sandbox", "exec", "--network", "proxy", "--allow-host", "web.test", "--allow-port", String(server.port),
                         "--allow-private", "127.0.0.1", "--egress-host", "web.test=127.0.0.1", "--egress-log", dir + "/egress.json",
                         "--", "python3", "-c", script])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "cli ok\n")
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/egress.json"))) as? [String: Any]
        let first = (obj?["connections"] as? [[String: Any]])?.first
        XCTAssertEqual(first?["host"] as? String, "web.test")
        XCTAssertEqual(first?["outcome"] as? String, "allowed")
    }
}
