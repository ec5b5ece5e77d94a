import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor
import Sandbox

/// The whole path, everything real but GitHub: a signed `issues.assigned` webhook into
/// the Daemon (configured with an App id, a key generated here, a webhook secret and the
/// fake's API URL), the task stored, an attempt in a real sandbox whose runtime clones
/// from a real git smart-HTTP server with the installation token the fake minted,
/// commits, pushes and writes its result; then what the fake GitHub saw: the Check Run
/// on the right commit through its states, the draft PR, the status comment.
final class EndToEndTests: XCTestCase {
    static let secret = "e2e webhook secret"
    static let installation: Int64 = 4711
    /// The git server as sandboxes reach it: through the egress proxy, by a name the
    /// config pins to 127.0.0.1 (127.0.0.1 itself is the sandbox's own loopback), with
    /// the loopback exception an operator would configure for an on-premises host.
    static let gitHost = "git.test"

    /// A fake runtime (run inside the sandbox): MODE --headless --context B --output R.
    static let runtime = #"""
    #!/bin/sh
    mode=$1
    for a; do out=$a; done
    case "$mode" in
    ok)
        git checkout -q -b coven/fix-1 && echo fixed >> README.md && git commit -qam "Fix #1" && git push -q origin coven/fix-1 || exit 2
        printf '{"contract_version":"1","status":"success","branch":"coven/fix-1","commits":[{"sha":"%s","message":"Fix #1"}],"files_changed":["README.md"],"summary":"Fixed it.","pr_body":"Fixes #1."}' "$(git rev-parse HEAD)" > "$out"
        exit 0;;
    pr)
        # As a runtime on a pull request: commit on the branch checked out, push it there.
        branch=$(git rev-parse --abbrev-ref HEAD)
        echo reviewed >> README.md && git commit -qam "Address review" && git push -q origin "HEAD:refs/heads/$branch" || exit 2
        printf '{"contract_version":"1","status":"success","branch":"%s","commits":[{"sha":"%s","message":"Address review"}],"files_changed":["README.md"],"summary":"Addressed it.","pr_body":"Addressed the review."}' "$branch" "$(git rev-parse HEAD)" > "$out"
        exit 0;;
    needs-input)
        printf '{"contract_version":"1","status":"needs_input","branch":null,"commits":[],"files_changed":[],"summary":"Unclear.","pr_body":"Should the widget be blue or green?"}' > "$out"
        exit 3;;
    sleep)
        trap '' TERM; sleep 300; exit 0;;
    review)
        # A v2 review: say what is checked out, and report findings on the PR's file.
        head=$(git rev-parse HEAD); base=$(git rev-parse --verify -q "origin/$COVEN_REVIEW_BASE" || echo none)
        printf '{"contract_version":"2","status":"success","branch":null,"commits":[],"files_changed":[],"summary":"head %s base %s","pr_body":"","review":{"mode":"pull_request","evidence_status":"complete","reviewed_files":["README.md"],"supporting_files":[],"findings":[{"severity":"high","file":"README.md","line":2,"title":"Unclear line","body":"Say what it does.","recommendation":null},{"severity":"low","file":"README.md","line":90,"title":"Far below","body":"Not in the diff.","recommendation":null},{"severity":"critical","file":"secret.txt","line":1,"title":"Elsewhere","body":"Not a PR file.","recommendation":null}],"tests_run":[{"command":"make test","status":"passed","output_summary":"all green"}],"no_findings_reason":null,"limitations":["read only the diff"]},"exit_reason":null}' "$head" "$base" > "$out"
        exit 0;;
    review-push)
        # A review that tries to push anyway: the summary says whether git let it.
        git checkout -q -b coven/review-push && git commit -q --allow-empty -m "not a review's job" || exit 2
        if git push -q origin coven/review-push; then pushed=yes; else pushed=no; fi
        printf '{"contract_version":"2","status":"success","branch":null,"commits":[],"files_changed":[],"summary":"pushed %s","pr_body":"","review":{"mode":"pull_request","evidence_status":"complete","reviewed_files":["README.md"],"supporting_files":[],"findings":[],"tests_run":[],"no_findings_reason":"tried to push instead","limitations":[]},"exit_reason":null}' "$pushed" > "$out"
        exit 0;;
    review-slow-first)
        # A review that takes its time on a commit titled "slow" (to be superseded while it runs).
        if [ "$(git log -1 --format=%s)" = slow ]; then trap '' TERM; sleep 300; exit 0; fi
        exec "$0" review "$@";;
    sleep-first)
        if [ "$COVEN_ATTEMPT" = 1 ]; then trap '' TERM; sleep 300; exit 0; fi
        exec "$0" ok "$@";;
    esac
    exit 64
    """#

    final class World {
        let dir: String
        let fake: FakeGitHubAPI
        let git: GitSmartHTTPServer
        private(set) var daemon: Daemon
        private(set) var port: UInt16
        let config: DaemonConfig
        let options: DaemonOptions
        let logs = AnnouncedTasks()   // any list of lines, thread-safe
        let mainSHA: String

        static let defaultFamiliars = #"[{"id": "cody", "display_name": "Cody", "bot_username": "coven-cody[bot]"}]"#

        init(mode: String, timeout: String = "60s", maxRetries: Int = 0, shutdownGrace: String = "30s",
             familiars: String = World.defaultFamiliars) throws {
            // The App's key, generated now; GitHub (the fake) knows its public half.
            let work = try DaemonWorkDirectory.make(prefix: "coven-e2e", runtime: EndToEndTests.runtime,
                                                    webhookSecret: EndToEndTests.secret)
            dir = work.dir
            let key = work.key

            // git: accepts only installation tokens the fake issued for this repository, a push
            // only with contents write (fetching with read too), and tells the fake about pushed branches.
            let fakeBox = Mutex<FakeGitHubAPI?>(nil)
            let repos = dir + "/repos"
            git = GitSmartHTTPServer(root: repos, token: UUID().uuidString, authorize: { password, push in
                guard let fake = fakeBox.withLock({ $0 }) else { return false }
                // As GitHub: only a live (unrevoked, unexpired) token for this repository, with
                // contents write to push and read or write to fetch.
                guard let t = fake.liveToken(password) else { return false }
                return (push ? ["write"] : ["read", "write"]).contains(t.permissions["contents"] ?? "")
                    && (t.repositories ?? []).contains { $0 == "widgets" || $0 == "acme/widgets" }
            }, onPush: { repo in
                guard let fake = fakeBox.withLock({ $0 }) else { return }
                let heads = GitSmartHTTPServer(root: repos, token: "").branches(of: repo)
                for (branch, sha) in heads { fake.setBranch(repo, branch, sha: sha) }
            })
            try git.start()
            try git.createRepository("acme/widgets")
            mainSHA = try XCTUnwrap(git.head(of: "acme/widgets", branch: "main"))

            let f = try FakeGitHubAPI(appID: "4242", publicKeyPEM: try key.publicKeyPEM(),
                                     installations: [.init(id: EndToEndTests.installation, repositories: ["acme/widgets"])],
                                     repositories: [.init(owner: "acme", name: "widgets", branches: ["main": mainSHA])])
            try f.start()
            fake = f
            fakeBox.withLock { $0 = f }

            let configJSON = """
            {
              "listen": "127.0.0.1:0",
              "state_dir": "state",
              "github": {"app_id": 4242, "private_key_path": "app.pem", "webhook_secret_path": "webhook-secret",
                         "api_base_url": "\(try XCTUnwrap(f.baseURL).absoluteString)"},
              "worker": {"runtime": ["/opt/fake/runtime.sh", "\(mode)"], "timeout": "\(timeout)", "grace": "200ms",
                         "max_retries": \(maxRetries), "backoff_base": "50ms", "concurrency": 1,
                         "shutdown_grace": "\(shutdownGrace)"},
              "sandbox": {"network": "proxy", "memory": "1G", "workspace_size": "256M", "pids": 256,
                          "egress": {"default_hosts": false, "allow_hosts": ["\(EndToEndTests.gitHost)"],
                                     "allow_ports": [\(git.port)], "allow_private": ["127.0.0.1/32"],
                                     "static_hosts": {"\(EndToEndTests.gitHost)": "127.0.0.1"}},
                          "binds": [{"source": "runtime", "destination": "/opt/fake"}]},
              "familiars": \(familiars)
            }
            """
            try configJSON.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            let logs = self.logs
            let options = DaemonOptions(log: { event, fields in
                let line = ([event] + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
                logs.append(line)
            }, publicationLog: FileHandle.nullDevice)
            self.options = options
            config = try ConfigLoader.load(path: dir + "/config.json")
            daemon = try Daemon(config: config, options: options)
            port = try daemon.start()
        }

        /// Stops the daemon (as SIGTERM does) and starts a new one on the same state.
        func restart() throws {
            daemon.stop()
            daemon = try Daemon(config: config, options: options)
            port = try daemon.start()
        }

        deinit {
            daemon.stop()
            fake.shutdown()
            git.shutdown()
            try? FileManager.default.removeItem(atPath: dir)
        }

        var log: String { logs.ids.joined(separator: "\n") }

        var cloneURL: String { "http://\(EndToEndTests.gitHost):\(git.port)/acme/widgets.git" }

        /// A signed `issues.assigned` delivery of issue #1 to Cody.
        func deliverAssigned(delivery: String = UUID().uuidString) throws -> HTTPClientResponse {
            let body = """
            {"action": "assigned",
             "issue": {"number": 1, "title": "Widgets wobble", "body": "They wobble.", "user": {"login": "octocat"}},
             "assignee": {"login": "coven-cody[bot]", "type": "Bot"},
             "repository": {"name": "widgets", "owner": {"login": "acme"}, "clone_url": "\(cloneURL)",
                            "default_branch": "main"},
             "installation": {"id": \(EndToEndTests.installation)},
             "sender": {"login": "octocat"}}
            """
            return try deliverSigned(event: "issues", delivery: delivery, body: body)
        }

        /// Delivers `body` as GitHub would: signed with the App's webhook secret.
        func deliverSigned(event: String, delivery: String, body: String) throws -> HTTPClientResponse {
            let data = Data(body.utf8)
            return try HTTPClient(keepAlive: false).post("http://127.0.0.1:\(port)/webhook", body: data, headers: [
                "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
                "X-Hub-Signature-256": WebhookSignature.sign(body: data, secret: Array(EndToEndTests.secret.utf8)),
            ])
        }

        /// Waits until the task is final and its Check Run completed (publication is async).
        func waitForPublishedEnd(taskID: String, timeout: TimeInterval = 120) -> (TaskDetail?, FakeGitHubAPI.CheckRun?) {
            var detail: TaskDetail?
            var run: FakeGitHubAPI.CheckRun?
            _ = eventually(timeout: timeout, interval: 0.1) {
                detail = try? daemon.store.task(id: taskID)
                run = fake.checkRuns.first
                return ["completed", "failed", "cancelled"].contains(detail?.record.state.rawValue ?? "")
                    && run?.status == "completed" && !fake.comments.isEmpty
            }
            return (detail, run)
        }
    }

    func testAssignedIssueRunsPushesAndPublishesSuccess() throws {
        let w = try World(mode: "ok")
        let accepted = try w.deliverAssigned()
        XCTAssertEqual(accepted.status, 202, accepted.text ?? "")
        let id = try XCTUnwrap(accepted.json["task_id"] as? String)
        let (detail, run) = w.waitForPublishedEnd(taskID: id)

        XCTAssertEqual(detail?.record.state, .completed, "task: \(String(describing: detail?.record))\n\(w.log)")
        XCTAssertEqual(detail?.record.disposition, .success)
        let pushed = w.git.head(of: "acme/widgets", branch: "coven/fix-1")
        XCTAssertNotNil(pushed, "the runtime pushed its branch with the fake's installation token\n\(w.log)")
        XCTAssertEqual(detail?.record.result?.commits.first?.sha, pushed)
        let egress = try XCTUnwrap(detail?.attempts.first?.egressLog, "proxy mode from the config: the attempt has an egress log")
        XCTAssertTrue(egress.contains("\"host\":\"\(EndToEndTests.gitHost)\""), egress)
        XCTAssertFalse(egress.contains("\"outcome\":\"denied\""), "nothing the runtime needed was denied: \(egress)")

        let r = try XCTUnwrap(run, "a Check Run was created\n\(w.log)")
        XCTAssertEqual(w.fake.checkRuns.count, 1, "one Check Run per task")
        XCTAssertEqual(r.headSHA, w.mainSHA, "the Check Run is on the default branch's head the task started from")
        XCTAssertEqual(r.name, "coven: Cody")
        XCTAssertTrue(r.statusHistory.contains("in_progress"), "the run went in progress: \(r.statusHistory)")
        XCTAssertEqual(r.statusHistory.last, "completed")
        XCTAssertEqual(r.conclusion, "success")

        let pr = try XCTUnwrap(w.fake.pullRequestsCreated.first, "a draft PR was opened\n\(w.log)")
        XCTAssertEqual(w.fake.pullRequestsCreated.count, 1)
        XCTAssertEqual(pr.head, "coven/fix-1")
        XCTAssertEqual(pr.base, "main")
        XCTAssertTrue(pr.draft, "the PR is a draft")

        XCTAssertEqual(w.fake.comments.count, 1, "one status comment, edited in place")
        let comment = try XCTUnwrap(w.fake.comments.first)
        XCTAssertEqual(comment.issue, 1)
        XCTAssertTrue(comment.body.hasPrefix(StatusComment.marker(taskID: id)), comment.body)
        XCTAssertTrue(comment.body.contains("Opened draft pull request #\(pr.number)."), "the comment points at the PR: \(comment.body)")
        XCTAssertGreaterThan(comment.edits, 0, "the queued comment was edited as the task moved on")
    }

    func testTheAttemptsGitTokenIsRevokedWhenTheAttemptEnds() throws {
        let w = try World(mode: "ok")
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        let (detail, _) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .completed, "\(w.log)")
        let git = w.fake.tokensIssued.filter { $0.permissions["contents"] == "write" }
        XCTAssertEqual(git.count, 1, "one git token for one attempt: \(w.fake.tokensIssued)")
        XCTAssertTrue(eventually(timeout: 10) { w.fake.tokensRevoked.map(\.token) == git.map(\.token) },
                      "the attempt's git token must be revoked once the attempt ends: revoked \(w.fake.tokensRevoked)\n\(w.log)")
    }

    func testPublicationTokensCoverOnlyTheTasksRepository() throws {
        let w = try World(mode: "ok")
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        _ = w.waitForPublishedEnd(taskID: id)
        let publication = w.fake.tokensIssued.filter { $0.permissions["checks"] == "write" }
        XCTAssertFalse(publication.isEmpty, "the task was published with a publication token")
        for t in publication {
            XCTAssertEqual(t.repositories, ["acme/widgets"], "\(t) must be narrowed to the task's repository")
        }
    }

    func testNeedsInputAsksTheQuestionAndOpensNoPR() throws {
        let w = try World(mode: "needs-input")
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        let (detail, run) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .completed, "\(w.log)")
        XCTAssertEqual(detail?.record.disposition, .actionRequired)
        XCTAssertEqual(run?.conclusion, "action_required", "exit 3 concludes the run action_required")
        XCTAssertTrue(w.fake.pullRequestsCreated.isEmpty, "needs_input opens no PR")
        // The status comment is edited after the Check Run completes: wait for that edit too.
        var body = ""
        _ = eventually(timeout: 30) { body = w.fake.comments.first?.body ?? ""; return body.contains("Should the widget") }
        XCTAssertTrue(body.contains("Should the widget be blue or green?"), "the question is posted: \(body)")
    }

    func testTimingOutRuntimeIsRetriedThenFails() throws {
        let w = try World(mode: "sleep", timeout: "1s", maxRetries: 1)
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        let (detail, run) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .failed, "\(w.log)")
        XCTAssertEqual(detail?.attempts.count, 2, "one retry after the first timeout")
        XCTAssertEqual(detail?.attempts.map(\.classification), [.retrySafe, .retrySafe])
        XCTAssertEqual(detail?.attempts.first?.exitReport?.exitClass, .timedOut)
        XCTAssertEqual(run?.conclusion, "timed_out", "the last attempt timed out: GitHub shows a timeout, not a failure")
        XCTAssertEqual(w.fake.checkRuns.count, 1, "the retry updates the same Check Run")
        XCTAssertTrue(w.fake.pullRequestsCreated.isEmpty)
    }

    func testCancellingARunningTaskConcludesItsCheckRunCancelled() throws {
        let w = try World(mode: "sleep")
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        XCTAssertTrue(eventually(timeout: 60) { (try? w.daemon.store.task(id: id))?.attempts.first?.state == .running },
                      "the attempt did not start\n\(w.log)")
        _ = try w.daemon.supervisor.cancel(taskID: id)
        let (detail, run) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .cancelled, "\(w.log)")
        XCTAssertEqual(run?.conclusion, "cancelled", "a cancel is shown as one, not as a failure")
    }

    func testStopDuringAnAttemptQueuesItAgainForTheRestart() throws {
        let w = try World(mode: "sleep-first", maxRetries: 1, shutdownGrace: "300ms")
        let id = try XCTUnwrap(try w.deliverAssigned().json["task_id"] as? String)
        XCTAssertTrue(eventually(timeout: 60) {
            (try? w.daemon.store.task(id: id))?.attempts.first?.state == .running
                && w.fake.checkRuns.first?.status == "in_progress"
        }, "the first attempt did not start\n\(w.log)")

        w.daemon.stop()
        let stopped = try XCTUnwrap(try w.daemon.store.task(id: id))
        XCTAssertEqual(stopped.record.state, .queued, "a stop queues the task again, not failed")
        XCTAssertEqual(stopped.attempts.map(\.interruptedBy), [.shutdown], "the torn-down attempt is recorded as cut short by the stop")

        try w.restart()
        let (detail, run) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .completed, "the recovered task runs again and completes\n\(w.log)")
        XCTAssertEqual(detail?.attempts.map(\.state), [.interrupted, .finished])
        XCTAssertEqual(w.fake.checkRuns.count, 1, "the restarted daemon updates the task's Check Run instead of creating another")
        XCTAssertEqual(run?.conclusion, "success")
    }

    func testRedeliveryOfTheSameWebhookRunsNothingTwice() throws {
        let w = try World(mode: "ok")
        let first = try w.deliverAssigned(delivery: "same-delivery")
        let id = try XCTUnwrap(first.json["task_id"] as? String)
        let again = try w.deliverAssigned(delivery: "same-delivery")
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.json["duplicate"] as? Bool, true)
        _ = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(try w.daemon.store.list().count, 1)
        XCTAssertEqual(w.fake.checkRuns.count, 1)
    }
}
