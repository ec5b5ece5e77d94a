import XCTest
import Foundation
@testable import Adapter
import Supervisor
import Sandbox

/// `sandbox.network` / `sandbox.egress` / `familiars[].egress`: what the keys become in
/// the attempts' policy, and that a bad entry is refused naming its key path.
final class ConfigEgressTests: XCTestCase, ConfigParsing {

    /// A valid config with `sandbox` as the sandbox section and `extra` spliced in at the top.
    func config(sandbox: String = "{}", familiar: String = "", extra: String = "") -> String {
        #"""
        {"state_dir": "/var/lib/coven", "worker": {"runtime": ["/bin/true"]}, "sandbox": \#(sandbox),
         "familiars": [{"id": "cody", "bot_username": "coven-cody[bot]"\#(familiar)},
                       {"id": "nova", "bot_username": "coven-nova[bot]"}]\#(extra)}
        """#
    }

    func task(familiar: String) -> TaskSpec {
        TaskSpec(id: "t_cfg", repo: RepoRef(owner: "a", name: "b", cloneURL: "https://github.com/a/b.git", defaultBranch: "main"),
                 trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "t", body: ""),
                 familiar: FamiliarRef(id: familiar, displayName: familiar))
    }

    func testProxyIsTheDefaultWithTheDefaultAllowlist() throws {
        let c = try parse(config())
        XCTAssertEqual(c.sandbox.network, .proxy, "the daemon runs attempts in proxy mode unless told otherwise")
        XCTAssertEqual(c.sandbox.egress, .daemonDefault)
        let a = c.attemptConfig(attemptsDirectory: "/tmp/a")
        XCTAssertEqual(a.network, .proxy)
        XCTAssertEqual(a.egress, .daemonDefault)
        XCTAssertTrue(a.egressForFamiliar.isEmpty, "no familiar has an egress object")
    }

    func testEveryNetworkModeParses() throws {
        for mode in NetworkMode.allCases {
            XCTAssertEqual(try parse(config(sandbox: #"{"network": "\#(mode.rawValue)"}"#)).sandbox.network, mode)
        }
    }

    func testEgressKeysBecomeThePolicy() throws {
        let c = try parse(config(sandbox: #"""
        {"network": "proxy",
         "egress": {"allow_hosts": ["ghe.corp.example", "*.pypi.org", "203.0.113.7"], "allow_ports": [443, 80],
                    "allow_private": ["10.20.0.0/16", "fd00::1"], "static_hosts": {"ghe.corp.example": "10.20.0.5"},
                    "max_bytes": "4G", "max_connections": 64, "header_timeout": "5s", "connect_timeout": "2500ms",
                    "idle_timeout": "2m", "max_log_entries": 50}}
        """#))
        let p = c.sandbox.egress
        XCTAssertEqual(p.allowHosts, EgressPolicy.defaultAllowlist + ["ghe.corp.example", "*.pypi.org", "203.0.113.7"],
                       "default_hosts (true by default) puts GitHub and the model providers first")
        XCTAssertEqual(p.allowPorts, [443, 80], "allow_ports replaces the default [443]")
        XCTAssertEqual(p.allowPrivateDestinations, ["10.20.0.0/16", "fd00::1"])
        XCTAssertEqual(p.staticHosts, ["ghe.corp.example": "10.20.0.5"])
        XCTAssertEqual(p.maxBytes, 4 << 30)
        XCTAssertEqual(p.maxConnections, 64)
        XCTAssertEqual(p.headerTimeout, 5)
        XCTAssertEqual(p.connectTimeout, 2.5)
        XCTAssertEqual(p.idleTimeout, 120)
        XCTAssertEqual(p.maxLogEntries, 50)
        XCTAssertEqual(c.attemptConfig(attemptsDirectory: "/tmp/a").egress, p)
        XCTAssertNoThrow(try p.compiled())
    }

    func testDefaultHostsFalseLeavesOnlyTheListedHosts() throws {
        let c = try parse(config(sandbox: #"{"egress": {"default_hosts": false, "allow_hosts": ["git.corp.example"]}}"#))
        XCTAssertEqual(c.sandbox.egress.allowHosts, ["git.corp.example"])
        XCTAssertEqual(c.sandbox.egress.allowPorts, [443])
    }

    func testMaxBytesTakesANumberOfBytes() throws {
        XCTAssertEqual(try parse(config(sandbox: #"{"egress": {"max_bytes": 1048576}}"#)).sandbox.egress.maxBytes, 1 << 20)
        XCTAssertNil(try parse(config()).sandbox.egress.maxBytes, "no cap unless configured")
    }

    func testFamiliarEgressIsAddedForThatFamiliarsTasksOnly() throws {
        let c = try parse(config(sandbox: #"{"egress": {"allow_hosts": ["*.pypi.org"], "max_bytes": "1G"}}"#, familiar: #"""
        , "egress": {"allow_hosts": ["api.mistral.ai"], "allow_ports": [8443], "allow_private": ["10.9.0.0/16"],
                     "static_hosts": {"models.corp.example": "10.9.0.7"}, "max_bytes": "2G"}
        """#))
        let cody = c.egressPolicy(familiar: "cody")
        XCTAssertEqual(cody.allowHosts, EgressPolicy.defaultAllowlist + ["*.pypi.org", "api.mistral.ai"],
                       "the familiar's hosts come after the sandbox-level ones")
        XCTAssertEqual(cody.allowPorts, [443, 8443])
        XCTAssertEqual(cody.allowPrivateDestinations, ["10.9.0.0/16"])
        XCTAssertEqual(cody.staticHosts, ["models.corp.example": "10.9.0.7"])
        XCTAssertEqual(cody.maxBytes, 2 << 30, "the familiar's max_bytes replaces the sandbox-level cap")

        let attempts = c.attemptConfig(attemptsDirectory: "/tmp/a")
        XCTAssertEqual(attempts.egress(for: task(familiar: "cody")), cody, "cody's tasks run under cody's policy")
        XCTAssertEqual(attempts.egress(for: task(familiar: "nova")), c.sandbox.egress, "nova has no egress object")
        XCTAssertEqual(attempts.egress(for: task(familiar: "unknown")), c.sandbox.egress, "nor has a familiar not configured")
        XCTAssertFalse(attempts.egress(for: task(familiar: "nova")).allowHosts.contains("api.mistral.ai"))
        XCTAssertNoThrow(try AttemptRunner(config: attempts), "every policy of the attempt config compiles")
    }

    func testGitHubEnterpriseHostIsAllowedAutomatically() throws {
        let ghes = #", "github": {"app_id": 1, "private_key_path": "/k.pem", "webhook_secret_env": "S", "api_base_url": "https://ghe.corp.example/api/v3"}"#
        let c = try parse(config(extra: ghes))
        XCTAssertEqual(c.gitHubEgress, EgressAdditions(allowHosts: ["ghe.corp.example"]), "GHES: the API host is the git host")
        XCTAssertEqual(c.egressPolicy().allowHosts, EgressPolicy.defaultAllowlist + ["ghe.corp.example"])
        XCTAssertTrue(c.egressPolicy(familiar: "cody").allowHosts.contains("ghe.corp.example"))
        XCTAssertTrue(c.attemptConfig(attemptsDirectory: "/tmp/a").egress.allowHosts.contains("ghe.corp.example"))

        let cloud = try parse(config(extra: ghes.replacingOccurrences(of: "https://ghe.corp.example/api/v3", with: "https://api.octo.ghe.com")))
        XCTAssertEqual(cloud.gitHubEgress.allowHosts, ["api.octo.ghe.com", "octo.ghe.com"], "api.NAME: NAME is the git host")

        let port = try parse(config(extra: ghes.replacingOccurrences(of: "ghe.corp.example/", with: "ghe.corp.example:8443/")))
        XCTAssertEqual(port.gitHubEgress, EgressAdditions(allowHosts: ["ghe.corp.example"], allowPorts: [8443]))
        XCTAssertEqual(port.egressPolicy().allowPorts, [443, 8443])
    }

    func testGitHubDotComAddsNothingToTheDefaultsButIsKeptWithoutThem() throws {
        let gh = #", "github": {"app_id": 1, "private_key_path": "/k.pem", "webhook_secret_env": "S"}"#
        XCTAssertTrue(try parse(config(extra: gh)).gitHubEgress.isEmpty, "the default allowlist covers github.com")
        let bare = try parse(config(sandbox: #"{"egress": {"default_hosts": false}}"#, extra: gh))
        XCTAssertEqual(bare.egressPolicy().allowHosts, ["api.github.com", "github.com"],
                       "attempts must still reach the App's GitHub to clone and push")
        XCTAssertTrue(try parse(config()).gitHubEgress.isEmpty, "no github section, nothing added")
    }

    // MARK: - Refusals

    func testUnknownEgressKeyIsNamed() {
        let e = refusal(config(sandbox: #"{"egress": {"allow_host": ["github.com"]}}"#))
        XCTAssertEqual(e?.path, "sandbox.egress.allow_host")
        XCTAssertTrue(e?.message.hasPrefix("unknown key (expected one of: default_hosts, allow_hosts") ?? false, e?.description ?? "")
    }

    func testInvalidHostPatternIsNamedWithItsIndex() {
        for bad in ["*", "*.com*", "https://github.com", "github.com:443", "git hub.com", "github.com/x", " github.com"] {
            let e = refusal(config(sandbox: #"{"egress": {"allow_hosts": ["github.com", "\#(bad)"]}}"#))
            XCTAssertEqual(e?.path, "sandbox.egress.allow_hosts[1]", bad)
            XCTAssertTrue(e?.message.contains("is not a host name, *.suffix or IP address") ?? false, e?.description ?? "")
        }
    }

    func testInvalidCIDRIsNamedWithItsIndex() {
        for bad in ["10.0.0.0/33", "10.0.0", "fd00::/129", "localhost", "10.0.0.0/8/8"] {
            let e = refusal(config(sandbox: #"{"egress": {"allow_private": ["\#(bad)"]}}"#))
            XCTAssertEqual(e?.path, "sandbox.egress.allow_private[0]", bad)
            XCTAssertTrue(e?.message.contains("is not an address or CIDR") ?? false, e?.description ?? "")
        }
    }

    func testInvalidPortIsNamed() {
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"allow_ports": [443, 0]}}"#))?.path, "sandbox.egress.allow_ports[1]")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"allow_ports": [65536]}}"#))?.path, "sandbox.egress.allow_ports[0]")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"allow_ports": ["443"]}}"#))?.path, "sandbox.egress.allow_ports[0]")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"allow_ports": 443}}"#))?.path, "sandbox.egress.allow_ports")
    }

    func testInvalidStaticHostIsNamed() {
        let addr = refusal(config(sandbox: #"{"egress": {"static_hosts": {"ghe.corp": "ghe.internal"}}}"#))
        XCTAssertEqual(addr?.path, "sandbox.egress.static_hosts.ghe.corp")
        XCTAssertTrue(addr?.message.contains("is not an IP address") ?? false, addr?.description ?? "")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"static_hosts": {"bad name": "10.0.0.1"}}}"#))?.path,
                       "sandbox.egress.static_hosts.bad name")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"static_hosts": ["x"]}}"#))?.path, "sandbox.egress.static_hosts")
    }

    func testStaticHostNamedLikeASecretIsAHostName() throws {
        let c = try parse(config(sandbox: #"{"egress": {"allow_hosts": ["token.corp.example"], "static_hosts": {"token.corp.example": "10.1.2.3"}}}"#))
        XCTAssertEqual(c.sandbox.egress.staticHosts, ["token.corp.example": "10.1.2.3"])
    }

    func testOtherBadValuesAreNamed() {
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"default_hosts": "yes"}}"#))?.path, "sandbox.egress.default_hosts")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"max_bytes": "lots"}}"#))?.path, "sandbox.egress.max_bytes")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"idle_timeout": "0s"}}"#))?.path, "sandbox.egress.idle_timeout")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": {"max_connections": 0}}"#))?.path, "sandbox.egress.max_connections")
        XCTAssertEqual(refusal(config(sandbox: #"{"egress": ["github.com"]}"#))?.path, "sandbox.egress")
    }

    func testBadFamiliarEgressIsNamed() {
        XCTAssertEqual(refusal(config(familiar: #", "egress": {"allow_hosts": ["*"]}"#))?.path, "familiars[0].egress.allow_hosts[0]")
        XCTAssertEqual(refusal(config(familiar: #", "egress": {"allow_private": ["10.0.0.0/40"]}"#))?.path,
                       "familiars[0].egress.allow_private[0]")
        let unknown = refusal(config(familiar: #", "egress": {"default_hosts": false}"#))
        XCTAssertEqual(unknown?.path, "familiars[0].egress.default_hosts", "a familiar adds to the policy; it cannot drop the defaults")
        XCTAssertEqual(refusal(config(familiar: #", "egress": {"idle_timeout": "1m"}"#))?.path, "familiars[0].egress.idle_timeout")
    }
}
