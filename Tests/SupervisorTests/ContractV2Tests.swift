import XCTest
import Foundation
@testable import Supervisor

extension Fixtures {
    /// Tests/SupervisorTests/Fixtures/contract-v2: copies of shared/contracts/v2, so these
    /// tests run without shared/.
    static func contractV2(_ name: String) throws -> Data {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/contract-v2")
        return try Data(contentsOf: dir.appendingPathComponent(name))
    }

    static func review(_ id: String = "task-pr-review", contractVersion: Int = 2, headSHA: String? = "0123456789abcdef0123456789abcdef01234567") -> TaskSpec {
        TaskSpec(id: id, installationID: 1, repo: repo, trigger: .prReviewComment, kind: .reviewPullRequest(prNumber: 7),
                 familiar: familiar, headRef: "feature", headSHA: headSHA, contractVersion: contractVersion)
    }

    /// A valid v2 result of a review with one finding.
    static func reviewResultJSON(status: String = "success", exitReason: String = "null", review: String? = nil) -> Data {
        let r = review ?? """
        {"mode":"pull_request","evidence_status":"complete","reviewed_files":["src/a.rs"],"supporting_files":[],
         "findings":[{"severity":"high","file":"src/a.rs","line":3,"title":"Off by one","body":"Loops once too often.",
                      "recommendation":"Use <"}],
         "tests_run":[{"command":"cargo test","status":"passed","output_summary":"8/8"}],
         "no_findings_reason":null,"limitations":["did not run the benchmarks"]}
        """
        return Data("""
        {"contract_version":"2","status":"\(status)","branch":null,"commits":[],"files_changed":[],"summary":"Reviewed.",
         "pr_body":"","review":\(r),"exit_reason":\(exitReason)}
        """.utf8)
    }
}

/// Contract v2 beside v1: the brief of a v2 familiar, the review task's brief, the v2 result.
final class ContractV2BriefTests: XCTestCase {
    private func brief(_ spec: TaskSpec, files: [String] = []) throws -> [String: JSONValue] {
        try XCTUnwrap(JSONValue.parse(SessionBrief(task: spec, workspaceRoot: "/workspace", reviewFiles: files).jsonData()).objectValue)
    }

    func testReviewBriefMatchesTheV2Schema() throws {
        let data = try SessionBrief(task: Fixtures.review(), workspaceRoot: "/workspace", reviewFiles: ["src/a.rs"]).jsonData()
        XCTAssertEqual(ContractSchemas.sessionBriefValidatorV2.validate(data), [])
    }

    func testReviewBriefSaysContractVersion2() throws {
        XCTAssertEqual(try brief(Fixtures.review())["contract_version"], .string("2"))
    }

    func testReviewBriefCarriesThePullRequestsFilesAsReviewContext() throws {
        let context = try XCTUnwrap(try brief(Fixtures.review(), files: ["src/a.rs", "README.md"])["review_context"]?.objectValue)
        XCTAssertEqual(context["kind"], .string("pull_request"))
        XCTAssertEqual(context["files"], .array([.object(["filename": .string("src/a.rs")]), .object(["filename": .string("README.md")])]))
    }

    func testReviewBriefCarriesAnAuditInstruction() throws {
        let text = try XCTUnwrap(try brief(Fixtures.review())["audit_instruction"]?.stringValue)
        XCTAssertTrue(text.contains("Review pull request #7"), text)
    }

    func testReviewIsBriefedAsARequestOnThePullRequest() throws {
        // The v2 schema has no review kind: a comment on the PR asking for the review.
        let task = try XCTUnwrap(try brief(Fixtures.review())["task"]?.objectValue)
        XCTAssertEqual(task["kind"], .string("address_review_comment"))
        XCTAssertEqual(task["pr_number"], .number(7))
    }

    func testV2FixIssueBriefHasNoReviewContext() throws {
        var spec = Fixtures.fixIssue()
        spec.contractVersion = 2
        let b = try brief(spec)
        XCTAssertEqual(b["contract_version"], .string("2"))
        XCTAssertNil(b["review_context"], "only reviews carry review_context")
    }

    func testV1BriefIsUnchanged() throws {
        let b = try brief(Fixtures.fixIssue())
        XCTAssertEqual(b["contract_version"], .string("1"))
        XCTAssertEqual(ContractSchemas.sessionBriefValidator.validate(try SessionBrief(task: Fixtures.fixIssue(), workspaceRoot: "/w").jsonData()), [])
    }

    func testReviewForAV1FamiliarGetsNoBrief() {
        XCTAssertThrowsError(try SessionBrief(task: Fixtures.review(contractVersion: 1), workspaceRoot: "/workspace")) {
            XCTAssertEqual($0 as? BriefError, .reviewNeedsContractV2)
        }
    }

    func testReviewTaskSurvivesTheStoresJSON() throws {
        let spec = Fixtures.review()
        XCTAssertEqual(try JSONDecoder().decode(TaskSpec.self, from: JSONEncoder().encode(spec)), spec)
    }

    func testV1TaskJSONHasNoContractVersionKey() throws {
        let json = String(decoding: try JSONEncoder().encode(Fixtures.fixIssue()), as: UTF8.self)
        XCTAssertFalse(json.contains("contract_version"), "v1 tasks are stored as before: \(json)")
    }
}

final class ContractV2ResultTests: XCTestCase {
    func testGoldenV2ResultIsAcceptedByTheV2Reader() throws {
        let r = try ResultReader.parse(Fixtures.contractV2("result.example.json"), contractVersion: 2).get()
        XCTAssertEqual(r.review, ReviewReport(mode: .none, evidenceStatus: .notApplicable,
                                              testsRun: [.init(command: "cargo test -p auth refresh", status: .passed, outputSummary: "8/8 passing")]))
    }

    func testReviewResultDecodesItsFindings() throws {
        let r = try ResultReader.parse(Fixtures.reviewResultJSON(), contractVersion: 2).get()
        XCTAssertEqual(r.review?.findings, [ReviewReport.Finding(severity: .high, file: "src/a.rs", line: 3, title: "Off by one",
                                                                 body: "Loops once too often.", recommendation: "Use <")])
    }

    func testV2ResultWithoutReviewIsASchemaViolation() {
        let data = Data(#"{"contract_version":"2","status":"success","commits":[],"files_changed":[],"summary":"","pr_body":"","exit_reason":null}"#.utf8)
        guard case .failure(let v) = ResultReader.parse(data, contractVersion: 2) else { return XCTFail("accepted without review") }
        XCTAssertEqual(v.kind, .schemaViolation)
    }

    func testV2SuccessWithAnExitReasonIsASchemaViolation() {
        guard case .failure(let v) = ResultReader.parse(Fixtures.reviewResultJSON(exitReason: #""test_failure""#), contractVersion: 2) else {
            return XCTFail("v2 ties success to a null exit_reason")
        }
        XCTAssertEqual(v.kind, .schemaViolation)
    }

    func testV2FailureWithoutAnExitReasonIsASchemaViolation() {
        guard case .failure(let v) = ResultReader.parse(Fixtures.reviewResultJSON(status: "failure"), contractVersion: 2) else {
            return XCTFail("v2 requires an exit_reason for failure")
        }
        XCTAssertEqual(v.kind, .schemaViolation)
    }

    func testPullRequestReviewWithoutEvidenceIsASchemaViolation() {
        let review = """
        {"mode":"pull_request","evidence_status":"not_applicable","reviewed_files":[],"supporting_files":[],"findings":[],
         "tests_run":[],"no_findings_reason":null,"limitations":[]}
        """
        guard case .failure(let v) = ResultReader.parse(Fixtures.reviewResultJSON(review: review), contractVersion: 2) else {
            return XCTFail("mode pull_request needs evidence")
        }
        XCTAssertEqual(v.kind, .schemaViolation)
    }

    func testV1ResultIsRefusedForAV2Familiar() {
        let v1 = Data(#"{"contract_version":"1","status":"success","commits":[],"files_changed":[],"summary":"","pr_body":""}"#.utf8)
        guard case .failure(let v) = ResultReader.parse(v1, contractVersion: 2) else { return XCTFail("a v1 result for a v2 familiar") }
        XCTAssertEqual(v.kind, .unsupportedContractVersion)
    }

    func testV2ResultIsStillRefusedForAV1Familiar() {
        guard case .failure(let v) = ResultReader.parse(Fixtures.reviewResultJSON(), contractVersion: 1) else {
            return XCTFail("a v2 result for a v1 familiar")
        }
        XCTAssertEqual(v.kind, .unsupportedContractVersion)
    }

    func testReviewTextIsRedacted() throws {
        var r = try ResultReader.parse(Fixtures.reviewResultJSON(), contractVersion: 2).get()
        let token = "ghs_" + String(repeating: "A", count: 36)
        r.review?.findings[0].body = "leaked \(token)"
        XCTAssertFalse(try XCTUnwrap(Redactor().redact(r).review?.findings.first?.body).contains(token))
    }

    func testEmbeddedV2SchemasEqualTheFixtures() throws {
        XCTAssertEqual(try JSONValue.parse(ContractSchemas.resultV2), try JSONValue.parse(Fixtures.contractV2("result.schema.json")))
        XCTAssertEqual(try JSONValue.parse(ContractSchemas.sessionBriefV2),
                       try JSONValue.parse(Fixtures.contractV2("session-brief.schema.json")))
    }

    func testAV1FamiliarsReviewIsRefusedWithANote() throws {
        let refusal = try XCTUnwrap(TaskSupervisor.refusal(Fixtures.review(contractVersion: 1)))
        XCTAssertEqual(refusal.attemptClass, .failed, "retrying cannot help")
        XCTAssertTrue(refusal.reason.contains("contract v2"), refusal.reason)
    }

    func testAV2FamiliarsReviewIsNotRefused() {
        XCTAssertNil(TaskSupervisor.refusal(Fixtures.review()))
    }
}

/// The v2 golden examples against shared/contracts/v2 (`make conformance`; skipped without shared/).
final class ConformanceContractV2Tests: XCTestCase {
    private func shared(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: try Fixtures.requireSharedContracts("v2") + "/" + name))
    }

    func testGoldenV2ResultIsAccepted() throws {
        XCTAssertEqual(try ResultReader.parse(shared("result.example.json"), contractVersion: 2).get().status, .success)
    }

    func testGoldenV2BriefMatchesTheEmbeddedSchemaAndDecodes() throws {
        let data = try shared("session-brief.example.json")
        XCTAssertEqual(ContractSchemas.sessionBriefValidatorV2.validate(data), [])
        let brief = try JSONDecoder().decode(SessionBrief.self, from: data)
        XCTAssertEqual(try JSONValue.parse(brief.jsonData()), try JSONValue.parse(data))
    }

    func testReviewBriefMatchesTheSharedV2Schema() throws {
        let validator = try JSONSchemaValidator(schemaData: shared("session-brief.schema.json"))
        let data = try SessionBrief(task: Fixtures.review(), workspaceRoot: "/workspace", reviewFiles: ["a"]).jsonData()
        XCTAssertEqual(validator.validate(data), [])
    }

    func testEmbeddedV2SchemasEqualTheSharedFiles() throws {
        XCTAssertEqual(ContractSchemas.resultV2 + "\n", String(decoding: try shared("result.schema.json"), as: UTF8.self))
        XCTAssertEqual(ContractSchemas.sessionBriefV2 + "\n", String(decoding: try shared("session-brief.schema.json"), as: UTF8.self))
    }
}
