import XCTest
import Foundation
@testable import Adapter
@testable import Supervisor

/// Every webhook log line names GitHub's event, whatever became of the delivery: the
/// logger's own `event` key names the log event, so GitHub's goes in `github_event`.
final class DaemonWebhookLogTests: XCTestCase {
    struct Case: Sendable {
        let name: String
        let logEvent: String
        let githubEvent: String
        let deliver: @Sendable (DaemonRouteFixture) throws -> Void
    }

    static let assigned = WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]")

    static let cases: [Case] = [
        Case(name: "queued", logEvent: "webhook_queued", githubEvent: "issues.assigned") {
            _ = try $0.deliver(event: "issues", delivery: "d-q", body: assigned)
        },
        Case(name: "duplicate", logEvent: "webhook_duplicate", githubEvent: "issues.assigned") {
            _ = try $0.deliver(event: "issues", delivery: "d-d", body: assigned)
            _ = try $0.deliver(event: "issues", delivery: "d-d", body: assigned)
        },
        Case(name: "ignored", logEvent: "webhook_ignored", githubEvent: "issues") {
            _ = try $0.deliver(event: "issues", delivery: "d-i", body: WebhookFixtures.issuesAction("opened"))
        },
        Case(name: "ping", logEvent: "webhook_ping", githubEvent: "ping") {
            _ = try $0.deliver(event: "ping", delivery: "d-p", body: WebhookFixtures.ping)
        },
        Case(name: "unsigned", logEvent: "webhook_rejected", githubEvent: "issues") {
            _ = try $0.deliver(event: "issues", delivery: "d-u", body: assigned, signature: .some(nil))
        },
        Case(name: "bad JSON", logEvent: "webhook_rejected", githubEvent: "issues") {
            _ = try $0.deliver(event: "issues", delivery: "d-j", body: "{")
        },
    ]

    func testEveryWebhookLineCarriesGitHubsEventName() throws {
        for c in Self.cases {
            let f = try DaemonRouteFixture()
            try c.deliver(f)
            let lines = f.events.named(c.logEvent)
            XCTAssertFalse(lines.isEmpty, "\(c.name): no \(c.logEvent) line; logged: \(f.events.all.map(\.event))")
            for fields in lines {
                XCTAssertEqual(fields["github_event"], c.githubEvent,
                               "\(c.name): \(c.logEvent) must name GitHub's event in github_event: \(fields)")
            }
        }
    }

    func testAWebhookFieldNamedEventSurvivesTheLogger() throws {
        let log = JSONLog(component: "serve")
        let data = try XCTUnwrap(log.line("webhook_queued", ["event": "issues.assigned", "component": "x"]))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: String])
        XCTAssertEqual(obj["event"], "webhook_queued", "the log event's name is kept: \(obj)")
        XCTAssertEqual(obj["event_field"], "issues.assigned", "a caller's `event` field is kept beside it: \(obj)")
        XCTAssertEqual(obj["component"], "serve", "the component is the logger's: \(obj)")
        XCTAssertEqual(obj["component_field"], "x", "a caller's `component` field is kept beside it: \(obj)")
    }
}
