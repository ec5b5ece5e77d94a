import XCTest
import Foundation
@testable import Supervisor

/// `JSONValueEncoder` builds the tree `JSONEncoder` would write: a brief checked as a tree
/// (at a task's acceptance) is the brief an attempt gets as bytes.
final class JSONValueEncoderTests: XCTestCase {
    private func review(_ contract: Int) -> TaskSpec {
        var spec = Fixtures.reviewComment("task-pr-review")
        spec.kind = .reviewPullRequest(prNumber: 7)
        spec.contractVersion = contract
        return spec
    }

    func testEveryTaskKindsBriefIsTheTreeJSONEncoderWrites() throws {
        let specs: [TaskSpec] = [Fixtures.fixIssue(), Fixtures.reviewComment(), Fixtures.mention(), review(2)]
        for spec in specs {
            let brief = try SessionBrief(task: spec, workspaceRoot: "/workspace", reviewFiles: ["src/a.swift"])
            XCTAssertEqual(try JSONValueEncoder().encode(brief), try JSONValue.parse(try brief.jsonData()),
                           "the trees differ for a \(spec.kind) brief")
        }
    }

    func testNilOptionalsAreLeftOutAndSpecialTypesAreWrittenAsJSONEncoderDoes() throws {
        struct Sample: Encodable {
            var absent: String? = nil
            var url = URL(string: "https://example.invalid/a/b")!
            var data = Data([0, 1, 2, 255])
            var date = Date(timeIntervalSinceReferenceDate: 12.5)
            var list: [Int?] = [1, nil]
        }
        let data = try JSONEncoder().encode(Sample())
        XCTAssertEqual(try JSONValueEncoder().encode(Sample()), try JSONValue.parse(data))
    }

    func testAValidBriefPassesItsTreeCheck() throws {
        XCTAssertNoThrow(try SessionBrief(task: Fixtures.fixIssue(), workspaceRoot: "/workspace").validate())
    }
}
