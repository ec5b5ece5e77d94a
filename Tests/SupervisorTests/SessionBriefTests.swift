import XCTest
@testable import Supervisor

final class SessionBriefTests: XCTestCase {
    private func briefJSON(_ spec: TaskSpec) throws -> JSONValue {
        try JSONValue.parse(try SessionBrief(task: spec, workspaceRoot: "/workspace").jsonData())
    }

    func testFixIssueBriefValidatesAgainstEmbeddedSchema() throws {
        let data = try SessionBrief(task: Fixtures.fixIssue(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(ContractSchemas.sessionBriefValidator.validate(data), [])
    }

    func testReviewCommentBriefValidatesAgainstEmbeddedSchema() throws {
        let data = try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(ContractSchemas.sessionBriefValidator.validate(data), [])
    }

    func testMentionBriefValidatesAgainstEmbeddedSchema() throws {
        let data = try SessionBrief(task: Fixtures.mention(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(ContractSchemas.sessionBriefValidator.validate(data), [])
    }

    func testReviewCommentBriefLeavesOutPathAndLine() throws {
        let task = try briefJSON(Fixtures.reviewComment()).objectValue?["task"]?.objectValue
        XCTAssertEqual(Set(task?.keys ?? [:].keys), ["kind", "pr_number", "comment_body", "diff_hunk"],
                       "the brief's task must carry exactly the contract's keys (no path/line)")
    }

    func testFixIssueTaskKeys() throws {
        let task = try briefJSON(Fixtures.fixIssue()).objectValue?["task"]?.objectValue
        XCTAssertEqual(Set(task?.keys ?? [:].keys), ["kind", "issue_number", "issue_title", "issue_body"])
    }

    func testMentionTaskKeys() throws {
        let task = try briefJSON(Fixtures.mention()).objectValue?["task"]?.objectValue
        XCTAssertEqual(Set(task?.keys ?? [:].keys), ["kind", "issue_number", "comment_body"])
    }

    func testTopLevelKeysAndVersion() throws {
        let obj = try briefJSON(Fixtures.fixIssue()).objectValue ?? [:]
        XCTAssertEqual(Set(obj.keys), ["contract_version", "trigger", "repo", "task", "familiar", "workspace"])
        XCTAssertEqual(obj["contract_version"], .string("1"))
        XCTAssertEqual(obj["workspace"], .object(["root": .string("/workspace")]))
    }

    func testNoTokenAnywhereInBrief() throws {
        let text = String(decoding: try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/workspace").jsonData(), as: UTF8.self)
        XCTAssertFalse(text.lowercased().contains("token"), "the brief must not mention any token")
        XCTAssertFalse(text.contains("head_sha"), "only contract keys belong in the brief")
    }

    func testCloneURLWithAtIsRefused() {
        var spec = Fixtures.fixIssue()
        spec.repo.cloneURL = "https://x-access-token:ghs_abc@github.com/OpenCoven/coven-code.git"
        XCTAssertThrowsError(try SessionBrief(task: spec, workspaceRoot: "/workspace")) { error in
            XCTAssertEqual(error as? BriefError, .credentialsInCloneURL)
            XCTAssertFalse(String(describing: error).contains("ghs_abc"), "the error must not echo the URL")
        }
    }

    func testRelativeWorkspaceRootIsRefused() {
        XCTAssertThrowsError(try SessionBrief(task: Fixtures.fixIssue(), workspaceRoot: "workspace"))
    }

    func testNegativeIssueNumberIsRefused() {
        var spec = Fixtures.fixIssue()
        spec.kind = .fixIssue(issueNumber: -1, title: "t", body: "b")
        XCTAssertThrowsError(try SessionBrief(task: spec, workspaceRoot: "/workspace"))
    }

    func testBriefIsDeterministic() throws {
        let a = try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/w").jsonData()
        let b = try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/w").jsonData()
        XCTAssertEqual(a, b)
    }

    func testBriefRoundTrips() throws {
        let brief = try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/workspace")
        XCTAssertEqual(try JSONDecoder().decode(SessionBrief.self, from: brief.jsonData()), brief)
    }

    func testMissingModelIsOmitted() throws {
        var spec = Fixtures.mention()
        spec.familiar.model = nil
        let familiar = try briefJSON(spec).objectValue?["familiar"]?.objectValue
        XCTAssertNil(familiar?["model"])
    }
}
