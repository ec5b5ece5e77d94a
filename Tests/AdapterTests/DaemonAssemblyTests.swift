import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor

/// The Daemon assembled from a configuration, in process: health, the routes that are
/// off without a GitHub App, start-up refusals, stop.
final class DaemonAssemblyTests: DaemonAssemblyTestCase {

    func testHealthzAnswersOKWhileTheStoreAnswers() throws {
        let daemon = try Daemon(config: config(), options: quietOptions())
        let port = try daemon.start()
        defer { daemon.stop() }
        let r = try HTTPClient(keepAlive: false).get("http://127.0.0.1:\(port)/healthz")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["ok"] as? Bool, true)
    }

    func testStateDirectoryIsPrivateEvenWhenItWasOpen() throws {
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        chmod(dir + "/state", 0o755)
        let daemon = try Daemon(config: config(), options: quietOptions())
        defer { daemon.stop() }
        var st = stat()
        XCTAssertEqual(stat(dir + "/state", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700, "the state directory holds the store: only the daemon may enter it")
        if geteuid() == 0 {
            XCTAssertFalse(daemon.attemptsDirectory.hasPrefix(dir + "/state"),
                           "as root, attempts can't live under the private state directory: \(daemon.attemptsDirectory)")
        }
    }

    func testWithoutGitHubWebhooksAreOffAndTheAPIClosedWithoutToken() throws {
        let daemon = try Daemon(config: config(), options: quietOptions())
        let port = try daemon.start()
        defer { daemon.stop() }
        let client = HTTPClient(keepAlive: false)
        let hook = try client.post("http://127.0.0.1:\(port)/webhook", body: Data("{}".utf8), headers: ["X-GitHub-Event": "ping"])
        XCTAssertEqual(hook.status, 404, "no github section: no webhook intake")
        XCTAssertEqual(try client.get("http://127.0.0.1:\(port)/api/tasks").status, 403, "no api.token_path: the API is closed")
    }

    func testUnreadableAPITokenFileRefusesToStart() {
        XCTAssertThrowsError(try Daemon(config: config(tokenPath: dir + "/missing-token"), options: quietOptions())) { e in
            XCTAssertTrue("\(e)".contains("missing-token"), "the error names the file: \(e)")
        }
    }

    func testMissingWebhookSecretRefusesToStartWithoutNamingAValue() {
        var c = config()
        c.github = .init(appID: "1", privateKeyPath: dir + "/key.pem", webhookSecret: .environment("COVEN_TEST_UNSET_SECRET"))
        XCTAssertThrowsError(try Daemon(config: c, options: quietOptions())) { e in
            XCTAssertTrue("\(e)".contains("COVEN_TEST_UNSET_SECRET"), "the error names the source: \(e)")
        }
    }

    func testStopIsIdempotentAndClosesTheListener() throws {
        let daemon = try Daemon(config: config(), options: quietOptions())
        let port = try daemon.start()
        daemon.stop()
        daemon.stop()
        XCTAssertThrowsError(try HTTPClient(keepAlive: false).get("http://127.0.0.1:\(port)/healthz", timeout: 2),
                             "nothing answers after stop")
    }

    func testLocalModeProxyPolicyAllowsExactlyTheListener() throws {
        let p = LocalMode.egressPolicy(listen: .init(host: "127.0.0.1", port: 8787))
        XCTAssertEqual(p.allowHosts, [LocalMode.sandboxHostName], "no default hosts in local mode")
        XCTAssertEqual(p.allowPorts, [8787])
        XCTAssertEqual(p.allowPrivateDestinations, ["127.0.0.1/32"])
        XCTAssertEqual(p.staticHosts, [LocalMode.sandboxHostName: "127.0.0.1"])
        let compiled = try p.compiled()
        XCTAssertNoThrow(try compiled.check(host: LocalMode.sandboxHostName, port: 8787).get())
        XCTAssertThrowsError(try compiled.check(host: LocalMode.sandboxHostName, port: 22).get(), "only the listener's port")
        XCTAssertThrowsError(try compiled.check(host: "github.com", port: 8787).get(), "nothing but the listener")
        XCTAssertEqual(LocalMode.egressPolicy(listen: .init(host: "0.0.0.0", port: 9000)).staticHosts,
                       [LocalMode.sandboxHostName: "127.0.0.1"], "all interfaces: reached on 127.0.0.1")
        XCTAssertEqual(LocalMode.egressPolicy(listen: .init(host: "::1", port: 9000)).allowPrivateDestinations, ["::1/128"])
        let c = LocalMode.config(stateDirectory: dir, examplesDirectory: dir, listen: .init(host: "127.0.0.1", port: 9001))
        XCTAssertEqual(c.sandbox.network, .proxy)
        XCTAssertEqual(c.attemptConfig(attemptsDirectory: dir).egress.allowPorts, [9001])
    }

    func testLocalModeOnPortZeroIsRefused() throws {
        let local = try LocalMode(stateDirectory: dir + "/state")
        let c = LocalMode.config(stateDirectory: dir + "/state", examplesDirectory: dir, listen: .init(host: "127.0.0.1", port: 0))
        XCTAssertThrowsError(try Daemon(config: c, options: DaemonOptions(local: local, log: { _, _ in }))) { e in
            XCTAssertTrue("\(e)".contains("fixed listen port"), "\(e)")
        }
    }
}
