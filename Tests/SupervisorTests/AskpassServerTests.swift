import XCTest
import Foundation
@testable import Supervisor

/// The askpass server answers only for the repository's origin, only to the
/// sandbox's uid, only while the attempt runs.
final class AskpassServerTests: XCTestCase {
    var dir: String!
    let token = FakeToken.make("ghs_")

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-askpass-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func server(peerUID: uid_t? = getuid()) throws -> AskpassServer {
        try AskpassServer(socketPath: dir + "/a.sock", cloneURL: "https://github.com/acme/widget.git",
                          token: token, peerUID: peerUID)
    }

    /// Asks over the socket like the helper does.
    func ask(_ prompt: String) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array((dir + "/a.sock").utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard ok else { return "connect failed" }
        let line = Array((prompt + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buf, buf.count)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .newlines) : ""
    }

    /// Sends a prompt and hangs up without reading the answer, as a hostile runtime may.
    func askAndHangUp(_ prompt: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array((dir + "/a.sock").utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let line = Array((prompt + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func testAHelperThatHangsUpBeforeTheAnswerCostsNothing() throws {
        // Without MSG_NOSIGNAL the answer to a closed socket raises SIGPIPE, which kills this
        // process (as it would run-task, which keeps SIGPIPE's default).
        let s = try server(); defer { s.close() }
        for _ in 0..<50 { askAndHangUp("Password for 'https://x-access-token@github.com': ") }
        XCTAssertEqual(ask("Username for 'https://github.com': "), "ok x-access-token", "the server still answers")
    }

    func testAnswersUsernameForTheRepositoryOrigin() throws {
        let s = try server(); defer { s.close() }
        XCTAssertEqual(ask("Username for 'https://github.com': "), "ok x-access-token")
    }

    func testAnswersTokenAsPasswordForTheRepositoryOrigin() throws {
        let s = try server(); defer { s.close() }
        XCTAssertEqual(ask("Password for 'https://x-access-token@github.com': "), "ok \(token)")
    }

    func testRefusesAnotherHost() throws {
        let s = try server(); defer { s.close() }
        let r = ask("Password for 'https://x-access-token@evil.example': ")
        XCTAssertTrue(r.hasPrefix("err "), "another host must get no token: \(r)")
        XCTAssertFalse(r.contains("ghs_"))
    }

    func testRefusesAnotherPortOrScheme() throws {
        let s = try server(); defer { s.close() }
        XCTAssertTrue(ask("Password for 'http://github.com': ").hasPrefix("err "), "plain http is another origin")
        XCTAssertTrue(ask("Password for 'https://github.com:8443': ").hasPrefix("err "), "another port is another origin")
    }

    func testRefusesAPeerWithAnotherUID() throws {
        let s = try server(peerUID: getuid() + 4242); defer { s.close() }
        XCTAssertTrue(ask("Password for 'https://github.com': ").hasPrefix("err "), "only the sandbox's uid is answered")
    }

    func testRefusesOnceClosed() throws {
        let s = try server()
        s.close()
        XCTAssertFalse(ask("Password for 'https://github.com': ").hasPrefix("ok"), "a closed server must not answer")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a.sock"), "the socket must be gone")
    }

    func testLogsEachRequestWithoutTheToken() throws {
        let s = try server(); defer { s.close() }
        _ = ask("Username for 'https://github.com': ")
        _ = ask("Password for 'https://evil.example': ")
        let logs = s.requests
        XCTAssertEqual(logs.count, 2)
        XCTAssertEqual(logs.first?.granted, true)
        XCTAssertEqual(logs.last?.granted, false)
        XCTAssertFalse("\(logs)".contains("ghs_"), "the log must never hold the token")
    }
}
