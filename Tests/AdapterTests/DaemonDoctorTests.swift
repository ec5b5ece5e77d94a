import XCTest
import Foundation
@testable import Adapter
import Sandbox

/// `coven-supervisor doctor --config`: one line per check, FAIL for what will not work,
/// exit status, and no secret ever printed.
final class DaemonDoctorTests: XCTestCase {
    var dir = ""
    let webhookSecret = "doctor-webhook-secret-value"
    let apiToken = "doctor-api-token-value"

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-doctor-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        try webhookSecret.write(toFile: dir + "/webhook-secret", atomically: true, encoding: .utf8)
        try apiToken.write(toFile: dir + "/api-token", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func writeConfig(keyPath: String) throws -> String {
        let json = """
        {"state_dir": "state",
         "github": {"app_id": 1, "private_key_path": "\(keyPath)", "webhook_secret_path": "webhook-secret"},
         "worker": {"runtime": ["/bin/true"]},
         "api": {"token_path": "api-token"}}
        """
        try json.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        return dir + "/config.json"
    }

    func doctor(_ args: [String]) throws -> (status: Int32, out: String) {
        try runToEnd(ServeTests.binary, ["doctor"] + args, mergeStderr: true)
    }

    func testGoodConfigPassesEveryCheckAndPrintsNoSecret() throws {
        let key = try RSAPrivateKey.generate(bits: 2048)
        let pem = try key.exportPrivateKeyPEM()
        FileManager.default.createFile(atPath: dir + "/app.pem", contents: Data(pem), attributes: [.posixPermissions: 0o600])
        let r = try doctor(["--config", try writeConfig(keyPath: "app.pem")])
        XCTAssertEqual(r.status, 0, "every check passes on this host with a complete config:\n\(r.out)")
        for name in ["sandbox", "seccomp", "cgroups", "config", "github app key", "webhook secret", "runtime",
                     "sandbox network", "state dir", "task api token"] {
            XCTAssertTrue(r.out.contains("ok    \(name):"), "an ok line for \(name):\n\(r.out)")
        }
        XCTAssertFalse(r.out.contains(webhookSecret), "the webhook secret must never be printed")
        XCTAssertFalse(r.out.contains(apiToken), "the API token must never be printed")
        XCTAssertFalse(r.out.contains("PRIVATE KEY"), "the key must never be printed")
    }

    func testMissingKeyFailsNamingWhatWillNotWork() throws {
        let r = try doctor(["--config", try writeConfig(keyPath: "missing.pem")])
        XCTAssertEqual(r.status, 1, "a FAIL makes doctor exit 1:\n\(r.out)")
        let line = r.out.split(separator: "\n").first { $0.hasPrefix("FAIL  github app key:") }
        XCTAssertNotNil(line, "the key check fails:\n\(r.out)")
        XCTAssertTrue(line?.contains("missing.pem") ?? false, "and names the file: \(line ?? "")")
    }

    func testInvalidConfigFails() throws {
        try #"{"state_dir": "s", "worker": {"runtime": ["/bin/true"], "timeout": "soon"}}"#
            .write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let r = try doctor(["--config", dir + "/bad.json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains(#"FAIL  config: worker.timeout: "soon" is not a duration"#), r.out)
    }

    func config(_ sandbox: String, familiar: String = "") throws -> DaemonConfig {
        try ConfigLoader.parse(Data(#"""
        {"state_dir": "/var/lib/coven", "worker": {"runtime": ["/bin/true"]}, "sandbox": \#(sandbox),
         "github": {"app_id": 1, "private_key_path": "/k.pem", "webhook_secret_env": "S", "api_base_url": "https://ghe.corp.example/api/v3"},
         "familiars": [{"id": "cody", "bot_username": "coven-cody[bot]"\#(familiar)}]}
        """#.utf8), baseDirectory: "/etc")
    }

    func testProxyModeReportsTheEffectiveAllowlist() throws {
        let c = try config(#"{"egress": {"allow_hosts": ["*.pypi.org"], "allow_private": ["10.20.0.0/16"], "static_hosts": {"ghe.corp.example": "10.20.0.5"}, "max_bytes": "1G"}}"#,
                           familiar: #", "egress": {"allow_hosts": ["api.mistral.ai"]}"#)
        let check = Doctor.networkCheck(c)
        XCTAssertEqual(check.level, .ok)
        XCTAssertTrue(check.detail.hasPrefix("proxy"), check.line)
        let text = check.line
        for part in ["github.com", "api.anthropic.com", "*.pypi.org", "ghe.corp.example", "allow_ports: 443",
                     "allow_private: 10.20.0.0/16", "static_hosts: ghe.corp.example=10.20.0.5", "max_bytes: 1073741824",
                     "added for github.api_base_url: ghe.corp.example", "familiar cody adds: allow_hosts api.mistral.ai"] {
            XCTAssertTrue(text.contains(part), "'\(part)' is reported:\n\(text)")
        }
    }

    func testHostAndNoneWarn() throws {
        let host = Doctor.networkCheck(try config(#"{"network": "host"}"#))
        XCTAssertEqual(host.level, .warn)
        XCTAssertTrue(host.detail.contains("no egress policy"), host.line)
        let none = Doctor.networkCheck(try config(#"{"network": "none"}"#))
        XCTAssertEqual(none.level, .warn)
        XCTAssertTrue(none.detail.contains("cannot reach a remote repository"), none.line)
    }

    func testProxyWarnsAboutNothingAllowedAndTheMetadataAddress() throws {
        var c = try config(#"{"egress": {"default_hosts": false}}"#)
        c.github = nil
        XCTAssertEqual(Doctor.networkCheck(c).level, .warn, "an empty allowlist cannot clone")
        let wide = Doctor.networkCheck(try config(#"{"egress": {"allow_private": ["169.254.0.0/16"]}}"#))
        XCTAssertEqual(wide.level, .warn)
        XCTAssertTrue(wide.detail.contains("169.254.169.254"), wide.line)
    }
}

/// A failed trial launch is named by the stage that failed, with that stage's fix.
final class DoctorSetupFailureTests: XCTestCase {
    static let noCgroups = CgroupSupport(version: .none, notes: ["no place for sandbox cgroups"])

    func testACgroupFailureIsNamedCgroupWithTheLayoutsFix() {
        var cg = Self.noCgroups
        cg.fix = "run under systemd with Delegate=yes"
        let c = Doctor.setupFailureCheck(stage: .cgroup, errno: EBUSY, detail: "cgroup: write +memory to x: EBUSY", hints: [], support: cg)
        XCTAssertEqual(c.level, .fail)
        XCTAssertEqual(c.name, "sandbox (cgroup)", "a cgroup failure must not be blamed on user namespaces: \(c.line)")
        XCTAssertTrue(c.notes.contains("fix: run under systemd with Delegate=yes"), c.line)
    }

    func testAJoinFailureOfTheLauncherIsACgroupFailureToo() {
        let c = Doctor.setupFailureCheck(stage: .cgroupJoin, errno: EACCES, detail: "sandbox launch: join cgroup", hints: ["mount cgroup2 writable"],
                                         support: Self.noCgroups)
        XCTAssertEqual(c.name, "sandbox (cgroup)")
        XCTAssertTrue(c.notes.first == "fix: mount cgroup2 writable", "the launch's own hint comes first: \(c.line)")
    }

    func testACloneFailureIsNamedUserNamespacesWithTheSysctls() {
        let c = Doctor.setupFailureCheck(stage: .clone, errno: EPERM, detail: "sandbox launch: clone (namespaces)", hints: [],
                                         support: Self.noCgroups)
        XCTAssertEqual(c.name, "sandbox (user namespaces)")
        XCTAssertTrue(c.notes.contains { $0.hasPrefix("fix: allow user namespaces") }, c.line)
    }

    func testOtherStagesAreNamedAsThemselves() {
        let c = Doctor.setupFailureCheck(stage: .proc, errno: EPERM, detail: "mount /proc: Operation not permitted", hints: [],
                                         support: Self.noCgroups)
        XCTAssertEqual(c.name, "sandbox (mount /proc)")
        XCTAssertTrue(c.detail.contains("mount /proc: Operation not permitted"), c.line)
    }
}
