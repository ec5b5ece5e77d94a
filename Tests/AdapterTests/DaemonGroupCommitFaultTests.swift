import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import HTTP
import Supervisor

/// Group commit under a `kill -9`: deliveries arrive on several connections at once (so
/// they share commits), the real daemon process is killed while they keep coming, and
/// the store it leaves behind must hold every delivery it answered 2xx.
final class DaemonGroupCommitFaultTests: XCTestCase {
    /// One answered delivery: its id, the status, and the task id of a 202.
    struct Answer: Sendable { var delivery: String; var status: Int; var taskID: String? }

    /// Sends distinct `issues.assigned` deliveries (a distinct issue each, so each makes a
    /// task) from `connections` keep-alive clients until the daemon dies, killing it with
    /// SIGKILL once `killAfter` have been answered; returns every 2xx answer.
    private func deliverUntilKilled(_ w: DaemonFaultTests.World, connections: Int = 16, killAfter: Int = 150) throws -> [Answer] {
        let answers = Mutex<[Answer]>([])
        let issue = Mutex(100)
        let group = DispatchGroup()
        let url = "http://127.0.0.1:\(w.port)/webhook"
        let secret = Array(EndToEndTests.secret.utf8)
        let gitPort = w.git.port
        for _ in 0..<connections {
            group.enter()
            Thread {
                defer { group.leave() }
                let client = HTTPClient()
                while true {
                    let n = issue.withLock { $0 += 1; return $0 }
                    let delivery = "kill-\(n)-\(UUID().uuidString)"
                    let body = Data(Self.assignedPayload(issue: n, gitPort: gitPort).utf8)
                    guard let r = try? client.post(url, body: body, headers: [
                        "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
                        "X-Hub-Signature-256": WebhookSignature.sign(body: body, secret: secret),
                    ], timeout: 30) else { return }   // the daemon is gone
                    if (200..<300).contains(r.status) {
                        answers.withLock { $0.append(Answer(delivery: delivery, status: r.status, taskID: r.json["task_id"] as? String)) }
                    }
                }
            }.start()
        }
        let reached = eventually(timeout: 120, interval: 0.005) { answers.withLock { $0.count } >= killAfter }
        XCTAssertTrue(reached, "the daemon answered too few deliveries:\n\(w.logs)")
        w.signal(SIGKILL)
        XCTAssertTrue(w.waitForExit(timeout: 30), "SIGKILL did not stop the daemon")
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "the clients never noticed the kill")
        return answers.withLock { $0 }
    }

    /// The killed daemon left its running attempt's mounts behind: a restart sweeps them,
    /// and a SIGTERM stop (not the World's SIGKILL) leaves none of its own.
    private func cleanUp(_ w: DaemonFaultTests.World) throws {
        try w.startDaemon()
        w.signal(SIGTERM)
        XCTAssertTrue(w.waitForExit(timeout: 60), "SIGTERM did not stop the restarted daemon")
    }

    func testEveryDeliveryAnswered2xxBeforeAKillIsInTheStore() throws {
        let w = try DaemonFaultTests.World(mode: "sleep", shutdownGrace: "200ms")
        try w.startDaemon()
        let answers = try deliverUntilKilled(w)
        let store = try w.store()
        defer { try? cleanUp(w) }
        let missing = try answers.filter { try store.delivery(id: $0.delivery) == nil }
        XCTAssertEqual(missing.map(\.delivery), [], "answered 2xx but not stored (of \(answers.count) answered)")
    }

    func testEveryTaskAnswered202BeforeAKillIsInTheStore() throws {
        let w = try DaemonFaultTests.World(mode: "sleep", shutdownGrace: "200ms")
        try w.startDaemon()
        let answers = try deliverUntilKilled(w)
        defer { try? cleanUp(w) }
        let queued = answers.filter { $0.status == 202 }
        XCTAssertFalse(queued.isEmpty, "no delivery made a task")
        let store = try w.store()
        let missing = try queued.filter { try !store.taskExists(id: $0.taskID ?? "") }
        XCTAssertEqual(missing.map(\.delivery), [], "answered 202 but their tasks are not stored (of \(queued.count))")
    }
}

extension DaemonGroupCommitFaultTests {
    /// An `issues.assigned` delivery for issue `issue` of acme/widgets, to the daemon's familiar.
    static func assignedPayload(issue: Int, gitPort: UInt16) -> String {
        """
        {"action": "assigned",
         "issue": {"number": \(issue), "title": "Widgets wobble", "body": "They wobble.", "user": {"login": "octocat"}},
         "assignee": {"login": "coven-cody[bot]", "type": "Bot"},
         "repository": {"name": "widgets", "owner": {"login": "acme"},
                        "clone_url": "http://\(EndToEndTests.gitHost):\(gitPort)/acme/widgets.git", "default_branch": "main"},
         "installation": {"id": \(EndToEndTests.installation)},
         "sender": {"login": "octocat"}}
        """
    }
}
