import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Sandbox

/// The JSON configuration: the shipped example parses to what it says; unknown keys,
/// bad values and inline secrets are refused with their key path.
/// Parsing a configuration text, and the error one is refused with.
protocol ConfigParsing {}

extension ConfigParsing {
    func parse(_ json: String, base: String = "/etc/coven") throws -> DaemonConfig {
        try ConfigLoader.parse(Data(json.utf8), baseDirectory: base)
    }

    /// The error `json` is refused with (fails the test when it is accepted).
    func refusal(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            _ = try parse(json)
            XCTFail("accepted: \(json)", file: file, line: line)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            XCTFail("not a ConfigError: \(error)", file: file, line: line)
            return nil
        }
    }
}

final class ConfigTests: XCTestCase, ConfigParsing {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A minimal valid config with `extra` spliced into the top-level object.
    func minimal(_ extra: String = "", worker: String = "") -> String {
        #"{"state_dir": "/var/lib/coven", "worker": {"runtime": ["/usr/bin/coven-code"]\#(worker)}\#(extra)}"#
    }

    func testExampleConfigParses() throws {
        let c = try ConfigLoader.load(path: Self.repoRoot + "/config/example.json")
        XCTAssertEqual(c.listen, .init(host: "127.0.0.1", port: 8787))
        XCTAssertEqual(c.stateDirectory, "/var/lib/coven-supervisor")
        XCTAssertEqual(c.github?.appID, "123456")
        XCTAssertEqual(c.github?.webhookSecret, .file("/etc/coven-supervisor/webhook-secret"))
        XCTAssertEqual(c.github?.apiBaseURL.absoluteString, "https://api.github.com")
        XCTAssertEqual(c.worker.timeout, .seconds(1800))
        XCTAssertEqual(c.worker.concurrency, 4)
        XCTAssertEqual(c.sandbox.network, .proxy)
        XCTAssertEqual(c.sandbox.egress.allowHosts, EgressPolicy.defaultAllowlist + ["*.pypi.org", "files.pythonhosted.org"])
        XCTAssertEqual(c.sandbox.egress.maxBytes, 4 << 30)
        XCTAssertEqual(c.familiars.first?.egress?.allowHosts, ["download.swift.org"])
        XCTAssertNoThrow(try c.egressPolicy(familiar: "cody").compiled())
        XCTAssertEqual(c.sandbox.memory, 4 << 30)
        XCTAssertEqual(c.sandbox.cpus, 2)
        XCTAssertEqual(c.sandbox.binds, [Bind(source: "/opt/coven-code", destination: "/opt/coven-code")])
        XCTAssertEqual(c.sandbox.uidRange, 300_000..<365_536)
        XCTAssertEqual(c.familiars.map(\.id), ["cody"])
        XCTAssertEqual(c.familiars.first?.triggerLabels, ["cody", "coven:fix"])
        XCTAssertEqual(c.api.tokenPath, "/etc/coven-supervisor/api-token")
    }

    func testMinimalConfigGetsDefaults() throws {
        let c = try parse(minimal())
        XCTAssertEqual(c.listen.description, "127.0.0.1:8787")
        XCTAssertNil(c.github, "no github section: local publication")
        XCTAssertNil(c.api.tokenPath, "no api section: the task API stays closed")
        XCTAssertEqual(c.sandbox.network, .proxy, "the sandbox network defaults to proxy (the pre-clone goes through the egress proxy)")
        XCTAssertEqual(c.sandbox.egress, .daemonDefault)
    }

    func testOutSizeReachesTheAttempts() throws {
        let c = try parse(minimal(#", "sandbox": {"out_size": "16M"}"#))
        XCTAssertEqual(c.attemptConfig(attemptsDirectory: "/tmp/a").outSize, 16 << 20)
        XCTAssertEqual(try parse(minimal()).attemptConfig(attemptsDirectory: "/tmp/a").outSize, 64 << 20, "64M by default")
    }

    func testUnknownKeyIsNamed() {
        let e = refusal(minimal(worker: #", "timeot": "5m""#))
        XCTAssertEqual(e?.path, "worker.timeot")
        XCTAssertTrue(e?.description.hasPrefix("config: worker.timeot: unknown key") ?? false, e?.description ?? "")
    }

    func testUnknownTopLevelKeyIsNamed() {
        XCTAssertEqual(refusal(minimal(#", "listne": "127.0.0.1:1""#))?.path, "listne")
    }

    func testBadDurationIsNamed() {
        let e = refusal(minimal(worker: #", "timeout": "abc""#))
        XCTAssertEqual(e?.description, #"config: worker.timeout: "abc" is not a duration (e.g. "30s", "5m")"#)
    }

    func testBadSizeIsNamed() {
        let e = refusal(minimal(#", "sandbox": {"memory": "lots"}"#))
        XCTAssertEqual(e?.description, #"config: sandbox.memory: "lots" is not a size (e.g. "512M", "2G")"#)
    }

    func testUnknownNetworkModeIsNamedWithTheChoices() {
        let e = refusal(minimal(#", "sandbox": {"network": "bridge"}"#))
        XCTAssertEqual(e?.path, "sandbox.network")
        XCTAssertTrue(e?.description.contains("\"none\"") ?? false, e?.description ?? "")
    }

    func testUidRangeReachingTheHostsOwnUsersIsRefused() {
        let e = refusal(minimal(#", "sandbox": {"uid_range": {"start": 1000, "count": 100}}"#))
        XCTAssertEqual(e?.path, "sandbox.uid_range.start", "a range among the host's login uids must be refused at its start key")
    }

    func testBadValueInsideAnArrayIsNamedWithItsIndex() {
        let e = refusal(minimal(#", "sandbox": {"binds": [{"source": "/a"}, {"source": "/b", "writable": "yes"}]}"#))
        XCTAssertEqual(e?.path, "sandbox.binds[1].writable")
    }

    func testInlineWebhookSecretIsRefusedWithoutEchoingIt() {
        let e = refusal(minimal(#", "github": {"app_id": 1, "private_key_path": "/k.pem", "webhook_secret": "hunter2-webhook"}"#))
        XCTAssertEqual(e?.path, "github.webhook_secret")
        XCTAssertTrue(e?.description.contains("never written in the config file") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.description.contains("webhook_secret_path") ?? false, "the message says what to use instead")
        XCTAssertFalse(e?.description.contains("hunter2") ?? true, "the secret must not be echoed")
    }

    func testInlineTokenAnywhereIsRefused() {
        XCTAssertEqual(refusal(minimal(#", "api": {"token": "abc"}"#))?.path, "api.token")
        XCTAssertEqual(refusal(minimal(#", "github": {"private_key": "x"}"#))?.path, "github.private_key")
    }

    func testPrivateKeyPastedAsAPathIsRefused() {
        let pem = "-----BEGIN " + "RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----"
        let e = refusal(minimal(#", "github": {"app_id": 1, "private_key_path": "\#(pem)", "webhook_secret_env": "S"}"#))
        XCTAssertEqual(e?.path, "github.private_key_path")
        XCTAssertFalse(e?.description.contains("MIIEow") ?? true, "the key must not be echoed")
    }

    func testGitHubNeedsAWebhookSecretSource() {
        XCTAssertEqual(refusal(minimal(#", "github": {"app_id": 1, "private_key_path": "/k.pem"}"#))?.path, "github.webhook_secret_path")
    }

    func testRelativePathsResolveAgainstTheConfigDirectory() throws {
        let c = try parse(#"{"state_dir": "state", "worker": {"runtime": ["/bin/true"]}, "api": {"token_path": "../secrets/api"}}"#,
                          base: "/etc/coven")
        XCTAssertEqual(c.stateDirectory, "/etc/coven/state")
        XCTAssertEqual(c.api.tokenPath, "/etc/secrets/api")
    }

    func testWorkerRuntimeIsRequired() {
        XCTAssertEqual(refusal(#"{"state_dir": "/s", "worker": {}}"#)?.path, "worker.runtime")
    }

    func testDuplicateKeysAreRefused() {
        XCTAssertNotNil(refusal(#"{"state_dir": "/a", "state_dir": "/b", "worker": {"runtime": ["/bin/true"]}}"#))
    }

    func testHTTPLimitsAreRead() throws {
        let c = try parse(minimal(#", "http": {"max_connections": 2048, "max_connections_per_client": 2048, "max_body_size": "10M", "request_memory_budget": "256M", "idle_timeout": "5s"}"#))
        XCTAssertEqual(c.http.maxConnections, 2048)
        XCTAssertEqual(c.http.maxConnectionsPerClient, 2048, "behind a proxy the per-client cap can be the whole limit")
        XCTAssertEqual(c.http.maxBodySize, 10 << 20)
        XCTAssertEqual(c.http.requestMemoryBudget, 256 << 20)
        XCTAssertEqual(c.http.idleTimeout, 5)
    }

    func testMemoryBudgetBelowTheLargestBodyIsRefused() {
        let e = refusal(minimal(#", "http": {"max_body_size": "32M", "request_memory_budget": "16M"}"#))
        XCTAssertEqual(e?.path, "http.request_memory_budget", "a budget no largest body fits in must be refused: \(e?.description ?? "")")
    }

    func testPerClientCapAboveTheConnectionLimitIsRefused() {
        let e = refusal(minimal(#", "http": {"max_connections": 10, "max_connections_per_client": 11}"#))
        XCTAssertEqual(e?.path, "http.max_connections_per_client")
    }
}
