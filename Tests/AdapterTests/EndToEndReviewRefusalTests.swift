import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A review asked of a contract-v1 familiar (a review requested from its bot), through a
/// real daemon: the task is stored, then refused when claimed, before any sandbox, with a
/// note that says why and what to change.
final class EndToEndReviewRefusalTests: XCTestCase {
    private func requestReviewFromV1Familiar() throws -> (EndToEndTests.World, TaskDetail?) {
        let w = try EndToEndTests.World(mode: "review")   // the default familiar, cody, speaks v1
        let head = try w.commit(parent: w.mainSHA, message: "feature work")
        try w.updateRef("refs/pull/7/head", to: head)
        w.fake.setPullRequest("acme/widgets", .init(number: 7, headRef: "feature", headSHA: head, baseRef: "main",
                                                    files: [.init(filename: "README.md", patch: EndToEndReviewTests.patch)]))
        let body = """
        {"action": "review_requested", "number": 7,
         "pull_request": {"number": 7, "title": "Add widgets", "draft": false, "user": {"login": "octocat"},
                          "labels": [], "head": {"ref": "feature", "sha": "\(head)"}, "base": {"ref": "main"}},
         "requested_reviewer": {"login": "coven-cody[bot]", "type": "Bot"},
         "repository": {"name": "widgets", "owner": {"login": "acme"}, "clone_url": "\(w.cloneURL)", "default_branch": "main"},
         "installation": {"id": \(EndToEndTests.installation)},
         "sender": {"login": "octocat"}}
        """
        let accepted = try w.deliverSigned(event: "pull_request", delivery: UUID().uuidString, body: body)
        XCTAssertEqual(accepted.status, 202, "the review task is stored: \(accepted.text ?? "")")
        let id = try XCTUnwrap(accepted.json["task_id"] as? String, accepted.text ?? "")
        let (detail, _) = w.waitForPublishedEnd(taskID: id)
        return (w, detail)
    }

    func testTheReviewTaskFailsWithANoteNamingTheContractVersion() throws {
        let (w, detail) = try requestReviewFromV1Familiar()
        XCTAssertEqual(detail?.record.state, .failed, "\(String(describing: detail))\n\(w.log)")
        let reason = detail?.record.finalReason ?? ""
        XCTAssertTrue(reason.contains("speaks contract v1") && reason.contains("contract_version to 2"),
                      "the note says why and what to change: \(reason)")
    }

    func testNoSandboxRunsForTheRefusedReview() throws {
        let (w, detail) = try requestReviewFromV1Familiar()
        let attempts = detail?.attempts ?? []
        XCTAssertFalse(attempts.isEmpty, "the refusal is recorded on an attempt\n\(w.log)")
        XCTAssertTrue(attempts.allSatisfy { $0.exitReport == nil }, "refused before any sandbox: \(attempts)")
        XCTAssertTrue(w.fake.reviews.isEmpty, "nothing reviewed, nothing posted")
    }
}
