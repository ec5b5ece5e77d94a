import XCTest
import Foundation
@testable import Supervisor
import Sandbox
import Adapter

/// Attempts in `proxy` mode (the default): the pre-clone and the runtime's push go
/// through the per-attempt egress proxy, only to what the policy allows, and every
/// decision lands in the attempt record.
final class EgressAttemptTests: XCTestCase {
    var fx: AttemptLoopFixture!

    override func setUpWithError() throws {
        fx = try AttemptLoopFixture()
    }

    override func tearDown() {
        fx = nil
    }

    /// The egress log of the first attempt, parsed.
    func egress(_ d: TaskDetail) throws -> [String: Any] {
        let text = try XCTUnwrap(d.attempts.first?.egressLog, "the attempt has no egress log")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func connections(_ d: TaskDetail) throws -> [[String: Any]] {
        try egress(d)["connections"] as? [[String: Any]] ?? []
    }

    func testDaemonDefaultIsProxyModeWithTheDefaultAllowlist() {
        let c = AttemptConfig(runtime: ["x"], attemptsDirectory: "/tmp")
        XCTAssertEqual(c.network, .proxy, "attempts must default to proxy mode")
        XCTAssertEqual(c.egress, .daemonDefault)
        XCTAssertEqual(Set(EgressPolicy.defaultAllowlist).isSuperset(of: EgressPolicy.githubHosts), true)
    }

    func testInvalidEgressPolicyFailsTheRunnerAtOnce() {
        var c = fx.attemptConfig(mode: "ok")
        c.egress.allowHosts = ["not a host"]
        XCTAssertThrowsError(try AttemptRunner(config: c), "a bad policy is a configuration error, not a retried attempt") {
            XCTAssertTrue("\($0)".contains("'not a host'"), "the error names the entry: \($0)")
        }
    }

    func testCloneAndPushThroughTheProxyAreRecordedInTheAttempt() throws {
        let d = try fx.run(mode: "ok")
        XCTAssertEqual(d.record.state, .completed, d.record.finalReason ?? "")
        let conns = try connections(d)
        XCTAssertFalse(conns.isEmpty, "the clone's requests must appear in the egress log")
        for c in conns {
            XCTAssertEqual(c["host"] as? String, AttemptLoopFixture.gitHost)
            XCTAssertEqual(c["outcome"] as? String, "allowed", "every git request was allowed: \(c)")
            XCTAssertEqual(c["address"] as? String, "127.0.0.1")
        }
        XCTAssertGreaterThan(conns.compactMap { $0["bytes_down"] as? Int }.reduce(0, +), 0, "bytes from the server are counted")
        XCTAssertTrue(conns.contains { ($0["method"] as? String) == "POST" }, "the push (POST git-receive-pack) went through the proxy")
        let json = TaskJSON.object(d)
        let attempt = (json["attempts"] as? [[String: Any]])?.first
        XCTAssertNotNil(attempt?["egress"], "the task record shows the egress log")
    }

    func testCloneFailsWhenTheGitHostIsNotAllowed() throws {
        var policy = fx.egressPolicy
        policy.allowHosts = ["github.com"]
        let d = try fx.run(mode: "ok", egress: policy)
        XCTAssertEqual(d.record.state, .failed)
        XCTAssertEqual(d.attempts.first?.classification, .retrySafe, "a refused clone is a clone failure")
        XCTAssertTrue((d.record.finalReason ?? "").contains("coven egress: \(AttemptLoopFixture.gitHost):\(fx.git.port) denied: host not in allowlist"),
                      "git shows the proxy's answer, so the reason names the rule: \(d.record.finalReason ?? "nil")")
        let first = try connections(d).first
        XCTAssertEqual(first?["outcome"] as? String, "denied")
        XCTAssertEqual(first?["rule"] as? String, "host not in allowlist")
        XCTAssertTrue(fx.git.requests.isEmpty, "the git server must not have been reached")
    }

    func testGitHostOnLoopbackNeedsTheExplicitException() throws {
        var policy = fx.egressPolicy
        policy.allowPrivateDestinations = []
        let d = try fx.run(mode: "ok", egress: policy)
        XCTAssertEqual(d.record.state, .failed)
        let first = try connections(d).first
        XCTAssertEqual(first?["outcome"] as? String, "denied")
        XCTAssertEqual(first?["rule"] as? String, "resolves to 127.0.0.1 (loopback), not allowed")
        XCTAssertTrue(fx.git.requests.isEmpty, "the git server must not have been reached")
    }

    func testPolicyIsPickedByTheTasksFamiliar() {
        var c = AttemptConfig(runtime: ["x"], attemptsDirectory: "/tmp")
        c.egress = .denyAll
        c.egressForFamiliar = ["cody": fx.egressPolicy]
        XCTAssertEqual(c.egress(for: fx.task()), fx.egressPolicy, "the task's familiar (cody) has a policy of its own")
        var other = fx.task()
        other.familiar = FamiliarRef(id: "nova", displayName: "Nova")
        XCTAssertEqual(c.egress(for: other), .denyAll, "a familiar without its own policy gets the sandbox-level one")
    }

    func testFamiliarPolicyReachesTheAttempt() throws {
        // The sandbox-level policy allows nothing; cody's own policy allows the git server.
        let d = try fx.run(mode: "ok", egress: .denyAll, egressForFamiliar: ["cody": fx.egressPolicy])
        XCTAssertEqual(d.record.state, .completed, "cody's policy let the clone and push through: \(d.record.finalReason ?? "")")
        let policy = try egress(d)["policy"] as? [String: Any]
        XCTAssertEqual(policy?["allow_hosts"] as? [String], [AttemptLoopFixture.gitHost], "the attempt ran under cody's policy")

        var other = fx.task()
        other.familiar = FamiliarRef(id: "nova", displayName: "Nova")
        let refused = try fx.run(mode: "ok", task: other, egress: .denyAll, egressForFamiliar: ["cody": fx.egressPolicy])
        XCTAssertEqual(refused.record.state, .failed, "another familiar's task gets the sandbox-level policy")
        XCTAssertEqual(try connections(refused).first?["rule"] as? String, "host not in allowlist")
    }

    func testInvalidFamiliarPolicyFailsTheRunnerNamingTheFamiliar() {
        var c = fx.attemptConfig(mode: "ok")
        c.egressForFamiliar = ["cody": EgressPolicy(allowHosts: ["*"])]
        XCTAssertThrowsError(try AttemptRunner(config: c)) {
            XCTAssertTrue("\($0)".contains("familiar cody") && "\($0)".contains("'*'"), "\($0)")
        }
    }
}
