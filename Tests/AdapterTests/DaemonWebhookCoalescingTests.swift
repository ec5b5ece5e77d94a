import XCTest
import Foundation
@testable import Adapter
import Supervisor

/// Repeated triggers at the webhook endpoint: a second delivery for the same work is
/// answered with the task it joined and logged `webhook_coalesced`; one with a new
/// comment body is a new task queued after the first.
final class DaemonWebhookCoalescingTests: XCTestCase {
    /// The same work delivered twice under two delivery ids (not a redelivery).
    private static let repeats: [(event: String, body: String)] = [
        ("issues", WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]")),
        ("issue_comment", WebhookFixtures.issueComment(body: "@coven-cody please look")),
        ("issue_comment", WebhookFixtures.issueComment(body: "@coven-cody please look", onPR: true)),
    ]

    func testRepeatedTriggerIsAnsweredWithTheTaskItJoined() throws {
        for r in Self.repeats {
            let f = try DaemonRouteFixture()
            let first = try f.deliver(event: r.event, delivery: "d1", body: r.body)
            XCTAssertEqual(first.status, 202, first.text ?? "")
            let second = try f.deliver(event: r.event, delivery: "d2", body: r.body)
            XCTAssertEqual([second.status as Any, second.json["coalesced"] ?? "-", second.json["task_id"] ?? "-"] as NSArray,
                           [200, true, first.json["task_id"] ?? "?"] as NSArray,
                           "\(r.event): the repeat joins the first task: \(second.text ?? "")")
        }
    }

    func testRepeatedTriggerCreatesNoSecondTask() throws {
        for r in Self.repeats {
            let f = try DaemonRouteFixture()
            _ = try f.deliver(event: r.event, delivery: "d1", body: r.body)
            _ = try f.deliver(event: r.event, delivery: "d2", body: r.body)
            XCTAssertEqual(try f.store.list().count, 1, "\(r.event): one task for one piece of work")
        }
    }

    func testRepeatedTriggerIsLoggedCoalescedWithTheGitHubEvent() throws {
        let f = try DaemonRouteFixture()
        let body = WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]")
        let id = try XCTUnwrap(try f.deliver(event: "issues", delivery: "d1", body: body).json["task_id"] as? String)
        _ = try f.deliver(event: "issues", delivery: "d2", body: body)
        let line = f.logLines.first { $0.hasPrefix("webhook_coalesced ") }
        XCTAssertNotNil(line, "a webhook_coalesced line: \(f.logLines)")
        for field in ["delivery=d2", "github_event=issues.assigned", "task=\(id)"] {
            XCTAssertTrue(line?.contains(field) ?? false, "\(field) missing in \(line ?? "-")")
        }
    }

    func testMentionWithANewCommentBodyIsQueuedAfterTheFirst() throws {
        let f = try DaemonRouteFixture()
        let first = try f.deliver(event: "issue_comment", delivery: "d1",
                                  body: WebhookFixtures.issueComment(body: "@coven-cody please look"))
        let second = try f.deliver(event: "issue_comment", delivery: "d2",
                                   body: WebhookFixtures.issueComment(body: "@coven-cody and the docs too"))
        XCTAssertEqual([second.status as Any, second.json["queued_after"] ?? "-"] as NSArray,
                       [202, first.json["task_id"] ?? "?"] as NSArray,
                       "new instructions are a new task, after the first: \(second.text ?? "")")
    }
}
