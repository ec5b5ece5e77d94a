import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
@testable import Sandbox
import Supervisor
import PostgresStore
import StoreTesting

/// A fleet of real `coven-supervisor-daemon serve` child processes sharing one PostgreSQL
/// database (a throwaway server, StoreTesting), one fake GitHub and one git server in this
/// process, each host with its own state dir, port and host_id.
final class Fleet: @unchecked Sendable {
    static let secret = "fleet webhook secret"
    static let gitHost = "git.test"
    static let apiToken = "fleet-api-token-0123456789"

    /// The runtime run in every sandbox: `fleet --headless --context BRIEF --output RESULT`.
    /// The issue's title picks how long it takes: `coven-mode-long` 60 s, `coven-mode-slow`
    /// 8 s, anything else a random 0-300 ms; then it reports success without commits.
    /// Bounded, scratch-free, no network: a harmless probe.
    static let runtime = #"""
    #!/bin/sh
    ctx=; out=; prev=
    for a; do
        [ "$prev" = --context ] && ctx=$a
        [ "$prev" = --output ] && out=$a
        prev=$a
    done
    case "$(cat "$ctx" 2>/dev/null)" in
    *coven-mode-long*) sleep 60;;
    *coven-mode-slow*) sleep 8;;
    *) n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' '); sleep "$(printf '0.%03d' $((n % 300)))";;
    esac
    printf '{"contract_version":"1","status":"success","branch":null,"commits":[],"files_changed":[],"summary":"Done by attempt %s.","pr_body":""}' "${COVEN_ATTEMPT:-?}" > "$out"
    exit 0
    """#

    struct DaemonDidNotStart: Error, CustomStringConvertible {
        var host: String
        var log: String
        var description: String { "daemon \(host) did not answer /healthz:\n\(log)" }
    }

    /// One `serve` process (restartable on the same state dir and host_id).
    final class Host: @unchecked Sendable {
        let id: String
        let dir: String
        let port: UInt16
        private(set) var process: Process?
        private(set) var runs = 0
        /// Every pid this host ran as (their sandboxes' cgroups are named after them).
        private(set) var pids: [pid_t] = []

        init(id: String, dir: String, port: UInt16) { self.id = id; self.dir = dir; self.port = port }

        var base: String { "http://127.0.0.1:\(port)" }
        var isRunning: Bool { process?.isRunning ?? false }

        func start() throws {
            runs += 1
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Fleet.daemonBinary)
            p.arguments = ["serve", "--config", dir + "/config.json"]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            let log = dir + "/daemon-\(runs).log"
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardError = p.standardOutput
            try p.run()
            process = p
            pids.append(p.processIdentifier)
            let client = HTTPClient(keepAlive: false)
            let up = poll(timeout: 60, interval: 0.1) {
                p.isRunning && (try? client.get(base + "/healthz", timeout: 2))?.status == 200
            }
            guard up else { throw DaemonDidNotStart(host: id, log: logs) }
        }

        func signal(_ sig: Int32) { if let p = process, p.isRunning { kill(p.processIdentifier, sig) } }

        /// SIGKILL, and waits for the exit.
        func kill9() {
            guard let p = process, p.isRunning else { return }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }

        /// SIGTERM (the daemon tears its sandboxes down and removes their mounts), then
        /// SIGKILL when it has not exited within `grace`. A stopped process is continued first.
        func stop(grace: TimeInterval = 20) {
            guard let p = process, p.isRunning else { return }
            kill(p.processIdentifier, SIGCONT)
            kill(p.processIdentifier, SIGTERM)
            if !poll(timeout: grace, interval: 0.05, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }

        /// Every run's log (the daemon's JSON lines), oldest first.
        var logs: String {
            (1...max(1, runs)).map { (try? String(contentsOfFile: dir + "/daemon-\($0).log", encoding: .utf8)) ?? "" }
                .joined(separator: "\n--- \(id) restarted ---\n")
        }

        /// The last `n` lines of the logs (for failure messages).
        func tail(_ n: Int = 40) -> String { logs.split(separator: "\n").suffix(n).joined(separator: "\n") }
    }

    static var daemonBinary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-supervisor-daemon").path
    }

    let dir: String
    let fake: FakeGitHubAPI
    let git: GitSmartHTTPServer
    let conninfo: String
    let installations: [Int64]
    let hosts: [Host]
    /// A connection of this process's own to the fleet's database (for the test's queries).
    private var db: PostgresConnection?
    private let dbLock = NSLock()
    private var stopped = false

    static func repository(_ installation: Int64) -> String { "acme/w\(installation)" }

    /// - Parameters:
    ///   - hostIDs: one daemon per id.
    ///   - installations: each with its own repository, `max_concurrent` each.
    init(hostIDs: [String], installations: [Int64], maxConcurrent: Int, concurrency: Int, lease: String = "3s",
         maxRetries: Int = 1, maxCrashInterruptions: Int = 5) throws {
        let work = try DaemonWorkDirectory.make(prefix: "coven-fleet", runtime: Fleet.runtime, webhookSecret: Fleet.secret)
        dir = work.dir
        self.installations = installations
        let key = work.key
        FileManager.default.createFile(atPath: dir + "/api-token", contents: Data(Fleet.apiToken.utf8),
                                       attributes: [.posixPermissions: 0o600])

        let fakeBox = Mutex<FakeGitHubAPI?>(nil)
        let repos = dir + "/repos"
        git = GitSmartHTTPServer(root: repos, token: UUID().uuidString, authorize: { password, push in
            guard let fake = fakeBox.withLock({ $0 }), let t = fake.liveToken(password) else { return false }
            return (push ? ["write"] : ["read", "write"]).contains(t.permissions["contents"] ?? "")
        }, onPush: { repo in
            guard let fake = fakeBox.withLock({ $0 }) else { return }
            for (branch, sha) in GitSmartHTTPServer(root: repos, token: "").branches(of: repo) { fake.setBranch(repo, branch, sha: sha) }
        })
        try git.start()
        var fakeRepos: [FakeGitHubAPI.Repository] = []
        for i in installations {
            let name = Fleet.repository(i)
            try git.createRepository(name)
            let sha = try XCTUnwrap(git.head(of: name, branch: "main"))
            let parts = name.split(separator: "/").map(String.init)
            fakeRepos.append(.init(owner: parts[0], name: parts[1], branches: ["main": sha]))
        }
        let f = try FakeGitHubAPI(appID: "4242", publicKeyPEM: try key.publicKeyPEM(),
                                  installations: installations.map { .init(id: $0, repositories: [Fleet.repository($0)]) },
                                  repositories: fakeRepos)
        try f.start()
        fake = f
        fakeBox.withLock { $0 = f }

        conninfo = try PostgresTestServer.shared.createDatabase()
        FileManager.default.createFile(atPath: dir + "/db-url", contents: Data(conninfo.utf8),
                                       attributes: [.posixPermissions: 0o600])
        db = try PostgresConnection(conninfo: conninfo, applicationName: "fleet-test")

        var hosts: [Host] = []
        for id in hostIDs {
            let hostDir = dir + "/" + id
            try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
            chmod(hostDir, 0o755)
            let host = Host(id: id, dir: hostDir, port: try Fleet.freePort())
            let limits = installations.map { "{\"id\": \($0), \"max_concurrent\": \(maxConcurrent)}" }.joined(separator: ", ")
            let config = """
            {
              "listen": "127.0.0.1:\(host.port)",
              "state_dir": "\(hostDir)/state",
              "github": {"app_id": 4242, "private_key_path": "\(dir)/app.pem", "webhook_secret_path": "\(dir)/webhook-secret",
                         "api_base_url": "\(try XCTUnwrap(f.baseURL).absoluteString)"},
              "worker": {"runtime": ["/opt/fake/runtime.sh", "fleet"], "timeout": "120s", "grace": "200ms",
                         "max_retries": \(maxRetries), "backoff_base": "50ms", "concurrency": \(concurrency),
                         "shutdown_grace": "2s", "max_crash_interruptions": \(maxCrashInterruptions)},
              "sandbox": {"network": "proxy", "memory": "512M", "workspace_size": "64M", "pids": 128,
                          "egress": {"default_hosts": false, "allow_hosts": ["\(Fleet.gitHost)"],
                                     "allow_ports": [\(git.port)], "allow_private": ["127.0.0.1/32"],
                                     "static_hosts": {"\(Fleet.gitHost)": "127.0.0.1"}},
                          "binds": [{"source": "\(dir)/runtime", "destination": "/opt/fake"}]},
              "familiars": [{"id": "cody", "display_name": "Cody", "bot_username": "coven-cody[bot]"}],
              "installations": [\(limits)],
              "api": {"token_path": "\(dir)/api-token"},
              "store": {"kind": "postgres", "url_file": "\(dir)/db-url", "host_id": "\(id)", "lease": "\(lease)",
                        "pool_size": 6}
            }
            """
            try config.write(toFile: hostDir + "/config.json", atomically: true, encoding: .utf8)
            hosts.append(host)
        }
        self.hosts = hosts
    }

    deinit { shutdown() }

    /// Stops every daemon (SIGTERM, then SIGKILL), removes what a killed one may have
    /// left (sandbox cgroups, attempt tmpfs mounts under our dir), and the servers.
    /// `keepLogs`: copies every host's logs to a directory of their own first (for a
    /// failed test), and returns its path.
    @discardableResult
    func shutdown(keepLogs: Bool = false) -> String? {
        guard !stopped else { return nil }
        stopped = true
        var kept: String?
        for h in hosts { h.signal(SIGCONT) }
        for h in hosts { h.signal(SIGTERM) }
        for h in hosts { h.stop() }
        if keepLogs {
            let to = dir + "-logs"
            try? FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
            for h in hosts { try? h.logs.write(toFile: to + "/" + h.id + ".log", atomically: true, encoding: .utf8) }
            kept = to
        }
        Fleet.sweep(under: dir, pids: hosts.flatMap(\.pids), logs: hosts.map(\.logs))
        dbLock.withLock { db = nil }
        fake.shutdown()
        git.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
        return kept
    }

    /// Kills what is left in the sandbox cgroups of our (dead) daemons and removes those
    /// cgroups (v2 or v1), detaches every mount under `dir` and under the attempts
    /// directories the daemons logged (`/run/coven-supervisor/<hash>` when the state dir
    /// is closed to sandbox uids), and removes those directories.
    static func sweep(under dir: String, pids: [pid_t], logs: [String] = []) {
        let host = CgroupHost.cachedProbe()
        var parents: [String] = []
        if let p = host.v2Parent { parents.append(p) }
        for d in host.v1Dirs.values where !parents.contains(d + "/coven") { parents.append(d + "/coven") }
        func ours() -> [String] {
            parents.flatMap { parent in
                ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [])
                    .filter { Cgroups.creatorPID(ofSandboxCgroup: $0).map(pids.contains) ?? false }
                    .map { parent + "/" + $0 }
            }
        }
        for cg in ours() {
            let procs = (try? String(contentsOfFile: cg + "/cgroup.procs", encoding: .utf8)) ?? ""
            for p in procs.split(separator: "\n").compactMap({ pid_t($0) }) { kill(p, SIGKILL) }
        }
        _ = poll(timeout: 5, interval: 0.1) {
            Cgroups.removeStale()
            return ours().isEmpty
        }
        // The attempts directories the daemons used (their `attempts_directory` log line).
        var roots = [dir]
        for log in logs {
            for line in log.split(separator: "\n") where line.contains("\"attempts_directory\"") {
                guard let data = line.data(using: .utf8),
                      let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let path = o["path"] as? String, path.hasPrefix("/run/coven-supervisor/") else { continue }
                let root = (path as NSString).deletingLastPathComponent
                if !roots.contains(root) { roots.append(root) }
            }
        }
        let mounts = ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap { line -> String? in
                let f = line.split(separator: " ")
                return f.count > 4 ? String(f[4]) : nil
            }
            .filter { m in roots.contains { m.hasPrefix($0 + "/") } }
        for m in mounts.sorted(by: { $0.count > $1.count }) { umount2(m, Int32(MNT_DETACH)) }
        for root in roots.dropFirst() { try? FileManager.default.removeItem(atPath: root) }
    }

    // MARK: Database

    /// Runs `sql` on the test's own connection (reconnecting once when it broke).
    func query(_ sql: String, _ params: [any SQLBindable] = []) throws -> [SQLRow] {
        dbLock.lock()
        defer { dbLock.unlock() }
        if db == nil || !(db!.isAlive) { db = try PostgresConnection(conninfo: conninfo, applicationName: "fleet-test") }
        return try db!.query(sql, params)
    }

    func count(_ sql: String, _ params: [any SQLBindable] = []) -> Int {
        Int((try? query(sql, params).first?.int("n")) ?? -1)
    }

    func state(of task: String) -> String? { try? query("SELECT state FROM tasks WHERE id = ?", [task]).first?.string("state") }

    /// Which host runs the task's running attempt (nil: none runs).
    func runningHost(of task: String) -> String? {
        try? query("SELECT host_id FROM attempts WHERE task_id = ? AND state = 'running'", [task]).first?.string("host_id")
    }

    // MARK: Deliveries

    /// A signed `issues.assigned` delivery of issue `issue` in `installation`'s repository,
    /// to `host`. Returns the response (nil: the host did not answer).
    func deliver(to host: Host, installation: Int64, issue: Int, title: String, delivery: String) -> HTTPClientResponse? {
        let repo = Fleet.repository(installation).split(separator: "/").map(String.init)
        let body = """
        {"action": "assigned",
         "issue": {"number": \(issue), "title": "\(title)", "body": "Please fix it.", "user": {"login": "octocat"}},
         "assignee": {"login": "coven-cody[bot]", "type": "Bot"},
         "repository": {"name": "\(repo[1])", "owner": {"login": "\(repo[0])"},
                        "clone_url": "http://\(Fleet.gitHost):\(git.port)/\(repo[0])/\(repo[1]).git", "default_branch": "main"},
         "installation": {"id": \(installation)},
         "sender": {"login": "octocat"}}
        """
        let data = Data(body.utf8)
        return try? HTTPClient(keepAlive: false).post(host.base + "/webhook", body: data, headers: [
            "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": WebhookSignature.sign(body: data, secret: Array(Fleet.secret.utf8)),
        ], timeout: 15)
    }

    /// Delivers to `hosts[first]`, else to the next host that answers (the same delivery
    /// id, as GitHub would redeliver). Returns the task id (nil: no host queued it).
    func deliverToAnyHost(first: Int, installation: Int64, issue: Int, title: String) -> String? {
        let delivery = UUID().uuidString
        for k in 0..<(hosts.count * 3) {
            let host = hosts[(first + k) % hosts.count]
            guard host.isRunning, let r = deliver(to: host, installation: installation, issue: issue, title: title,
                                                  delivery: delivery) else {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            if let id = r.json["task_id"] as? String { return id }
            if r.json["duplicate"] as? Bool == true {
                // An earlier try got through (its answer was lost): the store knows its task.
                return try? query("SELECT task_id FROM deliveries WHERE delivery_id = ?", [delivery]).first?.string("task_id")
            }
        }
        return nil
    }

    /// `POST /api/tasks/{id}/cancel` on `host`.
    func cancel(_ task: String, via host: Host) throws -> HTTPClientResponse {
        try HTTPClient(keepAlive: false).post(host.base + "/api/tasks/\(task)/cancel", body: Data(), headers: [
            "Authorization": "Bearer \(Fleet.apiToken)",
        ])
    }

    static func freePort() throws -> UInt16 {
        let probe = HTTPServer(host: "127.0.0.1", port: 0) { _ in .text(200, "") }
        let port = try probe.start()
        probe.shutdown()
        return port
    }

    /// Every host's log tail, for a failure message.
    func logTails(_ n: Int = 30) -> String {
        hosts.map { "=== \($0.id) ===\n\($0.tail(n))" }.joined(separator: "\n")
    }
}

extension HTTPClientResponse {
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
}

/// Polls `condition` until it holds or `timeout` passes (no fixed sleeps in assertions).
func poll(timeout: TimeInterval, interval: TimeInterval = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return try condition()
}
