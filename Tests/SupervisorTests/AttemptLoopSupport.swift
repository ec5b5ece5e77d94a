import XCTest
import Foundation
@testable import Supervisor
import Sandbox
import Adapter
@testable import HTTP

/// A loopback git server with one repository, a fake runtime (a shell script run
/// inside the sandbox, behaviour chosen by its first argument), and helpers to run
/// tasks through the real supervisor loop.
/// Everything the supervisor logged, for checks that no secret reaches the logs.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func record(_ event: String, _ fields: [String: String]) {
        lock.lock(); lines.append(event + " " + fields.map { "\($0)=\($1)" }.joined(separator: " ")); lock.unlock()
    }
    var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }
}

final class AttemptLoopFixture {
    let log = CapturedLog()
    let dir: String
    let token = "ghs_" + (0..<36).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! }.map(String.init).joined()
    let git: GitSmartHTTPServer
    let runtimeDir: String

    init() throws {
        dir = NSTemporaryDirectory() + "coven-loop-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/repos", withIntermediateDirectories: true)
        chmod(dir, 0o755)
        git = GitSmartHTTPServer(root: dir + "/repos", token: token)
        try git.start()
        try git.createRepository("acme/widget")
        runtimeDir = dir + "/runtime"
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        chmod(runtimeDir, 0o755)
        try FakeRuntime.script.write(toFile: runtimeDir + "/runtime.sh", atomically: true, encoding: .utf8)
        chmod(runtimeDir + "/runtime.sh", 0o755)
    }

    deinit {
        git.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func task(id: String = TaskSpec.newID(), installation: Int64? = nil, cloneURL: String? = nil) -> TaskSpec {
        TaskSpec(id: id, installationID: installation,
                 repo: RepoRef(owner: "acme", name: "widget", cloneURL: cloneURL ?? proxiedURL("acme/widget"), defaultBranch: "main"),
                 trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "Fix it", body: "Please"),
                 familiar: FamiliarRef(id: "cody", displayName: "Cody"))
    }

    /// The name the sandbox uses for the git server: pinned to 127.0.0.1 in the egress
    /// policy (no DNS), and not in NO_PROXY, so git goes through the proxy.
    static let gitHost = "git.test"

    func proxiedURL(_ repo: String) -> String { "http://\(Self.gitHost):\(git.port)/\(repo).git" }

    /// Exactly the git server: its name, its port, and the loopback exception for it.
    var egressPolicy: EgressPolicy {
        EgressPolicy(allowHosts: [Self.gitHost], allowPorts: [Int(git.port)], allowPrivateDestinations: ["127.0.0.1"],
                     staticHosts: [Self.gitHost: "127.0.0.1"])
    }

    /// `egressPolicy` as run-task options.
    var egressArguments: [String] {
        ["--network", "proxy", "--allow-host", Self.gitHost, "--allow-port", String(git.port),
         "--allow-private", "127.0.0.1", "--egress-host", "\(Self.gitHost)=127.0.0.1"]
    }

    func attemptConfig(mode: String, timeout: Duration = .seconds(60)) -> AttemptConfig {
        var c = AttemptConfig(runtime: ["/opt/fake/runtime.sh", mode], attemptsDirectory: dir + "/state/attempts")
        c.binds = [Bind(source: runtimeDir, destination: "/opt/fake")]
        c.timeout = timeout
        c.grace = .milliseconds(500)
        c.network = .proxy
        c.egress = egressPolicy
        c.limits = ResourceLimits(memoryBytes: 1 << 30, pids: 256)
        c.workspaceSize = 256 << 20
        return c
    }

    /// Runs one task to its final state through a TaskSupervisor.
    /// - Parameter arguments: given to the fake runtime after its mode (`$2`, `$3`, …).
    func run(mode: String, arguments: [String] = [], maxRetries: Int = 0, timeout: Duration = .seconds(60),
             token: String? = nil, task: TaskSpec? = nil, egress: EgressPolicy? = nil,
             egressForFamiliar: [String: EgressPolicy] = [:], redactedSecrets: [String] = []) throws -> TaskDetail {
        let store = try TaskStore(path: dir + "/state/coven-\(UUID().uuidString.prefix(6)).db")
        let sup = try supervisor(store: store, mode: mode, maxRetries: maxRetries, timeout: timeout, token: token,
                                 runtime: arguments.isEmpty ? nil : ["/opt/fake/runtime.sh", mode] + arguments,
                                 egress: egress, egressForFamiliar: egressForFamiliar, redactedSecrets: redactedSecrets)
        let t = task ?? self.task()
        try sup.submit(t)
        try sup.start()
        let d = sup.waitForFinalState(taskID: t.id, timeout: .seconds(300))
        sup.shutdown()
        return try XCTUnwrap(d)
    }

    func supervisor(store: TaskStore, mode: String, maxRetries: Int = 0, timeout: Duration = .seconds(60),
                    token: String? = nil, settings: SupervisorSettings? = nil, runtime: [String]? = nil,
                    egress: EgressPolicy? = nil, egressForFamiliar: [String: EgressPolicy] = [:],
                    redactedSecrets: [String] = []) throws -> TaskSupervisor {
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        chmod(dir + "/state", 0o711)
        let tokenFile = dir + "/token-\(UUID().uuidString.prefix(6))"
        try (token ?? self.token).write(toFile: tokenFile, atomically: true, encoding: .utf8)
        var s = settings ?? SupervisorSettings(globalConcurrency: 1)
        s.retry = RetryPolicy(maxRetries: maxRetries, baseDelay: 0.05, maxDelay: 0.2, jitter: 0)
        var config = attemptConfig(mode: mode, timeout: timeout)
        if let runtime { config.runtime = runtime }
        if let egress { config.egress = egress }
        config.egressForFamiliar = egressForFamiliar
        config.redactedSecrets = redactedSecrets
        return TaskSupervisor(store: store, runner: try AttemptRunner(config: config),
                              tokens: FileTokenProvider(path: tokenFile), publisher: NullPublisher(), settings: s, log: { [log] in log.record($0, $1) })
    }
}

enum FakeRuntime {
    /// Modes: ok (commit+push a branch, valid success result), exit1, needs-input, exit2, exit5,
    /// no-result, sleep, symlink, huge, wrong-version, malformed, extra-key, leak-probe, result-leak, refused
    /// (its build "fails" on a syscall the profile refuses).
    static let script = #"""
    #!/bin/sh
    # Fake coven-code for tests: MODE --headless --context BRIEF --output RESULT
    mode=$1
    for a; do out=$a; done
    result() { printf '{"contract_version":"1","status":"%s","branch":%s,"commits":%s,"files_changed":[],"summary":"%s","pr_body":"%s"}' "$1" "$2" "$3" "$4" "$5" > "$out"; }
    case "$mode" in
    ok)
        git checkout -q -b coven/fix-1 && echo fix >> README.md && git commit -qam "fix it" && git push -q origin coven/fix-1 || exit 1
        result success '"coven/fix-1"' "[{\"sha\":\"$(git rev-parse HEAD)\",\"message\":\"fix it\"}]" "fixed" "body"
        exit 0;;
    exit1) result failure null '[]' "tests fail" ""; exit 1;;
    needs-input) result needs_input null '[]' "which one?" "Should I use A or B?"; exit 3;;
    exit3-success) result success null '[]' "done" ""; exit 3;;
    exit2) exit 2;;
    refused) python3 -c 'import ctypes; ctypes.CDLL(None).unshare(0x10000000)'; result failure null '[]' "EPERM" ""; exit 1;;
    exit5) exit 5;;
    no-result) exit 0;;
    sleep) trap '' TERM; sleep 300; exit 0;;
    short) sleep 1; result success null '[]' "done" ""; exit 0;;
    symlink) ln -s /etc/passwd "$out"; exit 0;;
    huge) head -c 1100000 /dev/zero | tr '\0' ' ' > "$out"; exit 0;;
    wrong-version) printf '{"contract_version":"2","status":"success","commits":[],"files_changed":[],"summary":"s","pr_body":""}' > "$out"; exit 0;;
    malformed) printf '{"status": "success",' > "$out"; exit 0;;
    extra-key) printf '{"status":"success","commits":[],"files_changed":[],"summary":"s","pr_body":"","token":"x"}' > "$out"; exit 0;;
    result-leak)
        # Writes into its result what must never be stored: its own token (asked like git
        # asks), a token shape ($2) and the daemon secret ($3), both made by the test.
        tok=$("$GIT_ASKPASS" "Password for '$COVEN_CLONE_URL': ") || exit 1
        result success null '[]' "token $tok" "pat $2 secret $3"
        exit 0;;
    leak-probe)
        # Everything the token must never be in, base64'd so no redaction can hide it.
        git checkout -q -b coven/probe && echo p >> README.md && git commit -qam probe && git push -q origin coven/probe || exit 1
        echo "ENVIRON $(base64 -w0 /proc/self/environ)"
        echo "GITCONFIG $(base64 -w0 .git/config)"
        echo "BRIEF $(base64 -w0 /run/coven/session-brief.json)"
        echo "REMOTE $(git remote get-url origin | base64 -w0)"
        echo "ARGV $(cat /proc/[0-9]*/cmdline 2>/dev/null | base64 -w0)"
        result success null '[]' "probed" ""
        exit 0;;
    *) echo "unknown mode $mode" >&2; exit 64;;
    esac
    """#
}
