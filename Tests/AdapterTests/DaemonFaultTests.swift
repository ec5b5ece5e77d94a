import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor
import Sandbox

/// Faults injected into a real daemon: the `coven-supervisor-daemon serve` binary runs as
/// a child process (a fake GitHub and a real git server in this process, real sandboxes),
/// is killed with SIGKILL or stopped with SIGTERM at a chosen moment, and is started again
/// on the same state directory; then what the store and GitHub (the fake) hold is checked.
final class DaemonFaultTests: XCTestCase {
    static var daemonBinary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-supervisor-daemon").path
    }

    struct DaemonDidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "the daemon did not answer /healthz:\n\(log)" }
    }

    /// The fake GitHub, the git server, a config file, and the daemon as a child process.
    final class World {
        let dir: String
        let fake: FakeGitHubAPI
        let git: GitSmartHTTPServer
        let port: UInt16
        private(set) var daemon: Process?
        private var runs = 0

        /// `apiBaseURL`: where the daemon finds GitHub (default: the fake).
        init(mode: String, maxRetries: Int = 0, shutdownGrace: String = "30s", maxCrashInterruptions: Int = 3,
             apiBaseURL: URL? = nil) throws {
            let work = try DaemonWorkDirectory.make(prefix: "coven-fault", runtime: EndToEndTests.runtime,
                                                    webhookSecret: EndToEndTests.secret)
            dir = work.dir
            let key = work.key

            let fakeBox = Mutex<FakeGitHubAPI?>(nil)
            let repos = dir + "/repos"
            git = GitSmartHTTPServer(root: repos, token: UUID().uuidString, authorize: { password, _ in
                guard let fake = fakeBox.withLock({ $0 }) else { return false }
                return fake.liveToken(password)?.permissions["contents"] == "write"
            }, onPush: { repo in
                guard let fake = fakeBox.withLock({ $0 }) else { return }
                for (branch, sha) in GitSmartHTTPServer(root: repos, token: "").branches(of: repo) { fake.setBranch(repo, branch, sha: sha) }
            })
            try git.start()
            try git.createRepository("acme/widgets")
            let mainSHA = try XCTUnwrap(git.head(of: "acme/widgets", branch: "main"))
            let f = try FakeGitHubAPI(appID: "4242", publicKeyPEM: try key.publicKeyPEM(),
                                      installations: [.init(id: EndToEndTests.installation, repositories: ["acme/widgets"])],
                                      repositories: [.init(owner: "acme", name: "widgets", branches: ["main": mainSHA])])
            try f.start()
            fake = f
            fakeBox.withLock { $0 = f }

            port = try ServeTests.freePort()
            let config = """
            {
              "listen": "127.0.0.1:\(port)",
              "state_dir": "state",
              "github": {"app_id": 4242, "private_key_path": "app.pem", "webhook_secret_path": "webhook-secret",
                         "api_base_url": "\(try apiBaseURL ?? XCTUnwrap(f.baseURL))"},
              "worker": {"runtime": ["/opt/fake/runtime.sh", "\(mode)"], "timeout": "60s", "grace": "200ms",
                         "max_retries": \(maxRetries), "backoff_base": "50ms", "concurrency": 1,
                         "shutdown_grace": "\(shutdownGrace)", "max_crash_interruptions": \(maxCrashInterruptions)},
              "sandbox": {"network": "proxy", "memory": "1G", "workspace_size": "256M", "pids": 256,
                          "egress": {"default_hosts": false, "allow_hosts": ["\(EndToEndTests.gitHost)"],
                                     "allow_ports": [\(git.port)], "allow_private": ["127.0.0.1/32"],
                                     "static_hosts": {"\(EndToEndTests.gitHost)": "127.0.0.1"}},
                          "binds": [{"source": "runtime", "destination": "/opt/fake"}]},
              "familiars": [{"id": "cody", "display_name": "Cody", "bot_username": "coven-cody[bot]"}]
            }
            """
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        }

        deinit {
            if let d = daemon, d.isRunning { kill(d.processIdentifier, SIGKILL); d.waitUntilExit() }
            fake.shutdown()
            git.shutdown()
            try? FileManager.default.removeItem(atPath: dir)
        }

        /// Starts `coven-supervisor-daemon serve` (with `environment` added to ours) and
        /// waits until it answers /healthz.
        func startDaemon(environment: [String: String] = [:]) throws {
            runs += 1
            let p = Process()
            p.executableURL = URL(fileURLWithPath: DaemonFaultTests.daemonBinary)
            p.arguments = ["serve", "--config", dir + "/config.json"]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            let log = dir + "/daemon-\(runs).log"
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            try p.run()
            daemon = p
            let client = HTTPClient(keepAlive: false)
            let up = eventually(timeout: 60, interval: 0.1) {
                p.isRunning && (try? client.get("http://127.0.0.1:\(port)/healthz", timeout: 2))?.status == 200
            }
            guard up else { throw DaemonDidNotStart(log: logs) }
        }

        /// Waits for the daemon to exit; false when it is still running after `timeout`.
        func waitForExit(timeout: TimeInterval) -> Bool {
            guard let d = daemon else { return true }
            return eventually(timeout: timeout, interval: 0.02) { !d.isRunning }
        }

        func signal(_ sig: Int32) {
            if let d = daemon { kill(d.processIdentifier, sig) }
        }

        /// Every run's stderr.
        var logs: String {
            (1...max(1, runs)).map { (try? String(contentsOfFile: dir + "/daemon-\($0).log", encoding: .utf8)) ?? "" }
                .joined(separator: "\n--- restart ---\n")
        }

        /// The child's store, opened from here (a second connection, as the CLI would).
        func store() throws -> TaskStore { try TaskStore(path: dir + "/state/" + TaskStore.fileName) }

        func deliverAssigned() throws -> String {
            let body = """
            {"action": "assigned",
             "issue": {"number": 1, "title": "Widgets wobble", "body": "They wobble.", "user": {"login": "octocat"}},
             "assignee": {"login": "coven-cody[bot]", "type": "Bot"},
             "repository": {"name": "widgets", "owner": {"login": "acme"},
                            "clone_url": "http://\(EndToEndTests.gitHost):\(git.port)/acme/widgets.git", "default_branch": "main"},
             "installation": {"id": \(EndToEndTests.installation)},
             "sender": {"login": "octocat"}}
            """
            let data = Data(body.utf8)
            let r = try HTTPClient(keepAlive: false).post("http://127.0.0.1:\(port)/webhook", body: data, headers: [
                "X-GitHub-Event": "issues", "X-GitHub-Delivery": UUID().uuidString, "Content-Type": "application/json",
                "X-Hub-Signature-256": WebhookSignature.sign(body: data, secret: Array(EndToEndTests.secret.utf8)),
            ])
            XCTAssertEqual(r.status, 202, r.text ?? "")
            return try XCTUnwrap(r.json["task_id"] as? String, "no task id: \(r.text ?? "")")
        }

        func task(_ id: String) -> TaskDetail? { try? store().task(id: id) }

        /// Waits until the task is final and its Check Run completed, with the status comment.
        @discardableResult
        func waitForPublishedEnd(taskID: String, timeout: TimeInterval = 120) -> Bool {
            eventually(timeout: timeout, interval: 0.1) {
                ["completed", "failed", "cancelled"].contains(task(taskID)?.record.state.rawValue ?? "")
                    && fake.checkRuns.contains { $0.status == "completed" } && !fake.comments.isEmpty
                    && ((try? store().pendingPublicationCount()) ?? 1) == 0
            }
        }
    }

    // MARK: - A kill right after the attempt's outcome is durable

    /// Runs the `ok` runtime in a daemon that SIGKILLs itself right after recording the
    /// attempt (`COVEN_TEST_CRASH_AT`, debug builds only), then starts it again and waits
    /// for the task's publication.
    private func crashRightAfterRecordingTheAttempt() throws -> (World, String) {
        #if !DEBUG
        throw XCTSkip("COVEN_TEST_CRASH_AT is honoured by debug builds only")
        #endif
        let w = try World(mode: "ok", maxRetries: 1)
        try w.startDaemon(environment: ["COVEN_TEST_CRASH_AT": "attempt_recorded"])
        let id = try w.deliverAssigned()
        XCTAssertTrue(w.waitForExit(timeout: 120), "the daemon never reached the crash point:\n\(w.logs)")
        XCTAssertEqual(w.daemon?.terminationReason, .uncaughtSignal, "it was killed, not stopped:\n\(w.logs)")
        XCTAssertEqual(w.daemon?.terminationStatus, SIGKILL)
        try w.startDaemon()
        XCTAssertTrue(w.waitForPublishedEnd(taskID: id), "the task's end was never published:\n\(w.logs)")
        return (w, id)
    }

    func testKilledRightAfterRecordingAnAttemptTheTaskFinishesFromItWithoutRunningAgain() throws {
        let (w, id) = try crashRightAfterRecordingTheAttempt()
        let d = try XCTUnwrap(w.task(id))
        XCTAssertEqual(d.record.state, .completed, "finished from the recorded attempt: \(d.record)\n\(w.logs)")
        XCTAssertEqual(d.attempts.map(\.state), [.finished], "the runtime ran once: \(d.attempts)")
    }

    func testKilledRightAfterRecordingAnAttemptTheTaskIsPublishedExactlyOnce() throws {
        let (w, _) = try crashRightAfterRecordingTheAttempt()
        XCTAssertEqual(w.fake.pullRequestsCreated.count, 1, "one draft PR for the pushed branch\n\(w.logs)")
        XCTAssertEqual(w.fake.checkRuns.map(\.conclusion), ["success"], "one Check Run, completed once\n\(w.logs)")
        XCTAssertEqual(w.fake.comments.count, 1, "one status comment, edited in place")
    }

    // MARK: - SIGTERM during the last attempt

    func testSIGTERMDuringTheLastAttemptDoesNotUseUpTheRetryBudget() throws {
        // No retries and no crash to spare: attempt 1 is the last; it sleeps through the
        // short shutdown grace and is torn down.
        let w = try World(mode: "sleep-first", maxRetries: 0, shutdownGrace: "300ms", maxCrashInterruptions: 1)
        try w.startDaemon()
        let id = try w.deliverAssigned()
        XCTAssertTrue(eventually(timeout: 60) { w.task(id)?.attempts.first?.state == .running },
                      "the first attempt never started:\n\(w.logs)")
        w.signal(SIGTERM)
        XCTAssertTrue(w.waitForExit(timeout: 60), "SIGTERM did not stop the daemon:\n\(w.logs)")
        XCTAssertEqual(w.daemon?.terminationStatus, 0, "a SIGTERM stop exits 0:\n\(w.logs)")
        try w.startDaemon()
        XCTAssertTrue(eventually(timeout: 120) { w.task(id)?.record.state != .queued && w.task(id)?.record.state != .running },
                      "the task never finished:\n\(w.logs)")
        let d = try XCTUnwrap(w.task(id))
        XCTAssertEqual(d.record.state, .completed, "a deploy must not fail the task (\(d.record.finalReason ?? "-"))\n\(w.logs)")
    }

    // MARK: - A task that keeps killing the daemon

    func testATaskInterruptedByCrashesFailsOnlyOnceItsCrashBudgetIsSpent() throws {
        // No retries, two crashes allowed: the first kill -9 must not end the task, the second must.
        let w = try World(mode: "sleep", maxRetries: 0, maxCrashInterruptions: 2)
        try w.startDaemon()
        let id = try w.deliverAssigned()
        for n in 1...2 {
            XCTAssertTrue(eventually(timeout: 60) { w.task(id)?.attempts.last.map { $0.number == n && $0.state == .running } ?? false },
                          "attempt \(n) never ran: \(String(describing: w.task(id)?.record))\n\(w.logs)")
            w.signal(SIGKILL)
            XCTAssertTrue(w.waitForExit(timeout: 30))
            try w.startDaemon()
        }
        XCTAssertTrue(eventually(timeout: 60) { w.task(id)?.record.state == .failed }, "the task kept running:\n\(w.logs)")
        XCTAssertTrue(w.task(id)?.record.finalReason?.hasPrefix("interrupted too often") ?? false,
                      "reason: \(w.task(id)?.record.finalReason ?? "-")")
    }

    // MARK: - Publications while GitHub fails

    /// GitHub answers every repository call 503 (tokens still work): the task runs and
    /// completes, its publications wait in the outbox.
    private func completeATaskWhileGitHubFails(shutdownGrace: String = "30s") throws -> (World, String) {
        let w = try World(mode: "ok", shutdownGrace: shutdownGrace)
        w.fake.injectFailure(status: 503, count: 1_000_000) { _, path in path.hasPrefix("/repos/") }
        try w.startDaemon()
        let id = try w.deliverAssigned()
        XCTAssertTrue(eventually(timeout: 120) {
            w.task(id)?.record.state == .completed
                && ((try? w.store().pendingPublications()) ?? []).contains { $0.event.name == "finished" }
        }, "the task did not complete with its publication pending:\n\(w.logs)")
        return (w, id)
    }

    func testPublicationsPendingAtAKillArePublishedOnceAfterTheRestart() throws {
        let (w, id) = try completeATaskWhileGitHubFails()
        w.signal(SIGKILL)
        XCTAssertTrue(w.waitForExit(timeout: 30))
        w.fake.clearInjectedFailures()
        try w.startDaemon()
        XCTAssertTrue(w.waitForPublishedEnd(taskID: id), "the pending publication was lost:\n\(w.logs)")
        XCTAssertEqual(w.fake.checkRuns.map(\.conclusion), ["success"], "one Check Run\n\(w.logs)")
        XCTAssertEqual(w.fake.pullRequestsCreated.count, 1, "one draft PR")
        XCTAssertEqual(w.fake.comments.count, 1, "one status comment")
    }

    func testSIGTERMWhileGitHubFailsReturnsWithinTheShutdownGrace() throws {
        let (w, _) = try completeATaskWhileGitHubFails(shutdownGrace: "1s")
        let sent = Date()
        w.signal(SIGTERM)
        // Waiting for the publications (each call retried for ~7 s) took 30 s more before.
        XCTAssertTrue(w.waitForExit(timeout: 60), "SIGTERM did not stop the daemon:\n\(w.logs)")
        let took = Date().timeIntervalSince(sent)
        XCTAssertLessThan(took, 10, "the stop outlasted the 1 s grace by far (\(took) s):\n\(w.logs)")
        XCTAssertEqual(w.daemon?.terminationStatus, 0)
    }
}
