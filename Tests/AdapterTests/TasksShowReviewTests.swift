import XCTest
import Foundation
@testable import TaskCommands

/// `tasks show` of a review: its outcome is the findings, so they are listed.
final class TasksShowReviewTests: XCTestCase {
    func task(review: [String: Any]) -> [String: Any] {
        ["id": "t_1", "state": "completed", "disposition": "success",
         "task": ["repo": ["owner": "demo", "name": "hello"], "task": ["kind": "review_pull_request", "pr_number": 2],
                  "familiar": ["id": "example-reviewer"]],
         "result": ["status": "success", "commits": [] as [Any], "review": review]]
    }

    func testAReviewsFindingsAreListedWithTheirPlace() {
        let out = TaskTables.show(task(review: [
            "mode": "pull_request", "evidence_status": "complete",
            "findings": [["severity": "low", "file": "hello.sh", "line": 2, "title": "Changed line"],
                         ["severity": "info", "file": "hello.sh", "line": NSNull(), "title": "Whole file"]]]))
        XCTAssertTrue(out.contains("complete, 2 findings"), out)
        XCTAssertTrue(out.contains("low hello.sh:2 Changed line"), out)
        XCTAssertTrue(out.contains("info hello.sh Whole file"), out)
    }

    func testTheReviewOfOtherWorkIsNotShown() {
        let out = TaskTables.show(task(review: ["mode": "none", "evidence_status": "not_applicable", "findings": [] as [Any]]))
        XCTAssertFalse(out.split(separator: "\n").contains { $0.hasPrefix("review ") }, "a v2 result of a fix has nothing to review: \(out)")
    }
}
