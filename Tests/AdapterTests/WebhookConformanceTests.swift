import Foundation
import XCTest
@testable import Adapter
@testable import HTTP
import Supervisor

/// Every real GitHub payload in shared/fixtures parses and yields ping, ignored or task,
/// never an error. Skipped when the fixtures folder is absent (a bare clone).
///
/// Looked for in `$COVEN_FIXTURES_DIR` when set (and only there), else in
/// `<package>/../shared/fixtures` (CI's layout), then `/work/shared/fixtures`.
final class ConformanceWebhookTests: XCTestCase {
    static let familiars = [
        FamiliarConfig(id: "cody", displayName: "Cody", botUsername: "coven-cody[bot]", triggerLabels: ["coven:fix"]),
        // The login and labels the upstream fixtures use, so some of them route to work.
        FamiliarConfig(id: "hello", displayName: "Hello", botUsername: "hello-bot[bot]", triggerLabels: ["bug"]),
    ]

    static let fixturesRoot: URL? = {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["COVEN_FIXTURES_DIR"], !env.isEmpty {
            candidates = [URL(fileURLWithPath: env)]
        } else {
            let packageRoot = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            candidates.append(packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures"))
            candidates.append(URL(fileURLWithPath: "/work/shared/fixtures"))
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("github-webhooks").path) }
    }()

    private func folder(_ name: String) throws -> URL {
        guard let root = Self.fixturesRoot else { throw XCTSkip("shared/fixtures not found; conformance fixtures skipped") }
        let dir = root.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: dir.path) else { throw XCTSkip("\(dir.path) absent") }
        return dir
    }

    private func decide(_ event: String, _ file: URL) throws -> WebhookDecision {
        let body = try Data(contentsOf: file)
        do {
            return try WebhookIntake.decide(event: event, deliveryID: "conformance-\(file.lastPathComponent)",
                                            body: body, familiars: Self.familiars)
        } catch {
            XCTFail("\(event) \(file.lastPathComponent): intake failed: \(error)")
            throw error
        }
    }

    private func jsonFiles(_ dir: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// `github-webhooks/<event>/<action>.payload.json`: every file of every event.
    func testUpstreamPayloadsAllDecideWithoutError() throws {
        let root = try folder("github-webhooks")
        let events = try FileManager.default.contentsOfDirectory(atPath: root.path).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent($0).path, isDirectory: &isDir) && isDir.boolValue
        }.sorted()
        var count = 0
        for event in events {
            for file in try jsonFiles(root.appendingPathComponent(event)) {
                let d = try decide(event, file)
                count += 1
                if !WebhookEvent.handledEvents.contains(event) {
                    XCTAssertEqual(d, .ignored(.unknownEvent(event)), "\(event)/\(file.lastPathComponent) should be ignored as an unknown event")
                }
                if event == "ping" { XCTAssertEqual(d, .ping, "\(file.lastPathComponent) should be a ping") }
            }
        }
        XCTAssertGreaterThan(count, 50, "expected the full upstream fixture set, found \(count) payloads")
    }

    /// Payloads for the handled events are routed to the familiar they name, or ignored for a stated reason.
    func testUpstreamHandledEventsRouteAsExpected() throws {
        let root = try folder("github-webhooks")
        // Codertocat (a User) is assigned and labels "bug": labeled routes to "hello", assigned does not.
        let labeled = try decide("issues", root.appendingPathComponent("issues/labeled.payload.json"))
        guard case .task(let spec, "issues.labeled") = labeled else { return XCTFail("issues/labeled should be a task, got \(labeled)") }
        XCTAssertEqual(spec.familiar.id, "hello", "label bug should route to hello")
        XCTAssertEqual(spec.repo.cloneURL, "https://github.com/Codertocat/Hello-World.git", "clone_url should be taken from the payload")
        XCTAssertNil(spec.installationID, "that payload has no installation")

        let assigned = try decide("issues", root.appendingPathComponent("issues/assigned.with-installation.payload.json"))
        XCTAssertEqual(assigned, .ignored(.noFamiliarMatched(event: "issues.assigned")), "assignment to a human should be ignored")

        let review = try decide("pull_request_review", root.appendingPathComponent("pull_request_review/submitted.payload.json"))
        XCTAssertEqual(review, .ignored(.noFamiliarMatched(event: "pull_request_review.submitted")), "a review with null body is ignored")

        let opened = try decide("issues", root.appendingPathComponent("issues/opened.payload.json"))
        XCTAssertEqual(opened, .ignored(.unhandledAction(event: "issues", action: "opened")), "issues.opened is not handled")
    }

    /// The original adapter's fixtures: each one is a task (or ping) with the expected kind.
    func testCovenPayloadsRouteAsTheOriginalAdapterDid() throws {
        let root = try folder("coven-github-webhooks")
        let expected: [(file: String, event: String, kind: String?)] = [
            ("issue_assigned.json", "issues", "fix_issue"),
            ("issue_labeled.json", "issues", "fix_issue"),
            ("issue_comment_created.json", "issue_comment", "respond_to_mention"),
            ("issue_comment_on_pr.json", "issue_comment", "address_review_comment"),
            ("pull_request_review_submitted.json", "pull_request_review", "address_review_comment"),
            ("pull_request_review_comment_created.json", "pull_request_review_comment", "address_review_comment"),
            ("ping.json", "ping", nil),
        ]
        for e in expected {
            let url = root.appendingPathComponent(e.file)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let d = try decide(e.event, url)
            switch (d, e.kind) {
            case (.ping, nil): break
            case (.task(let spec, _), let kind?):
                XCTAssertEqual(spec.kind.name, kind, "\(e.file) routed to the wrong task kind")
                XCTAssertEqual(spec.familiar.id, "cody", "\(e.file) should go to cody")
                XCTAssertEqual(spec.installationID, 987654, "\(e.file) installation id lost")
            default:
                XCTFail("\(e.file): expected \(e.kind ?? "ping"), got \(d)")
            }
        }
    }

    func testCovenReviewCommentCarriesHunkAndPath() throws {
        let url = try folder("coven-github-webhooks").appendingPathComponent("pull_request_review_comment_created.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "fixture absent")
        guard case .task(let spec, _) = try decide("pull_request_review_comment", url),
              case .addressReviewComment(let pr, _, let hunk, let path, _) = spec.kind
        else { return XCTFail("review comment fixture did not become address_review_comment") }
        XCTAssertEqual(pr, 73, "PR number should come from pull_request.number")
        XCTAssertEqual(path, "src/auth/refresh.rs", "path should be carried")
        XCTAssertTrue(hunk?.hasPrefix("@@ -10,3 +10,5 @@") ?? false, "diff_hunk should be carried")
    }
}
