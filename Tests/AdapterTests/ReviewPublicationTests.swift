import Foundation
import XCTest
import Supervisor
@testable import Adapter
@testable import AdapterTesting

/// A review task's publication against the fake GitHub: one PR review on the reviewed
/// commit, its gates, its Check Run.
final class ReviewPublicationTests: GitHubTestCase {
    /// src/a.swift: lines 1–4 shown (2 and 3 added); line 40 is not in the diff.
    static let patch = "@@ -1,2 +1,4 @@\n let a = 1\n+let b = 2\n+let c = 3\n let d = 4"
    static let files = [FakeGitHubAPI.PullFile(filename: "src/a.swift", patch: patch),
                        FakeGitHubAPI.PullFile(filename: "logo.png", patch: nil)]

    override func setUpWithError() throws {
        try super.setUpWithError()
        fake.setPullRequest(GitHubFixture.fullName, .init(number: GitHubFixture.prNumber, headRef: "feature",
                                                          headSHA: GitHubFixture.prHeadSHA, baseRef: "main", files: Self.files))
    }

    static func task(id: String = "t_00000000000000c3", headSHA: String? = GitHubFixture.prHeadSHA) -> TaskSpec {
        TaskSpec(id: id, source: .webhook(deliveryID: "d"), installationID: GitHubFixture.installationID,
                 repo: GitHubFixture.repoRef, trigger: .prReviewComment, kind: .reviewPullRequest(prNumber: GitHubFixture.prNumber),
                 familiar: GitHubFixture.familiar, headSHA: headSHA, contractVersion: 2)
    }

    static func finding(_ severity: ReviewReport.Severity = .medium, file: String = "src/a.swift", line: Int? = 2,
                        title: String = "Naming") -> ReviewReport.Finding {
        ReviewReport.Finding(severity: severity, file: file, line: line, title: title, body: "Explain \(title).",
                             recommendation: "Rename it.")
    }

    static func outcome(_ findings: [ReviewReport.Finding]) -> TaskOutcome {
        let review = ReviewReport(mode: .pullRequest, evidenceStatus: .partial, reviewedFiles: ["src/a.swift"],
                                  findings: findings, testsRun: [.init(command: "swift test", status: .passed, outputSummary: "12 passed")],
                                  limitations: ["no network"])
        return TaskOutcome(state: .completed, disposition: .success,
                           result: ResultEnvelope(contractVersion: "2", status: .success, summary: "Looked at it.", review: review))
    }

    private func publish(_ findings: [ReviewReport.Finding], policy: ReviewPolicy = ReviewPolicy(),
                         task: TaskSpec = ReviewPublicationTests.task()) async throws {
        let p = GitHubPublisher(client: try client(), options: GitHubPublisher.Options(reviewPolicy: { _ in policy }), log: logs.log)
        try await p.publish(.finished(task, Self.outcome(findings)))
    }

    private func onlyReview(file: StaticString = #filePath, line: UInt = #line) throws -> FakeGitHubAPI.Review {
        XCTAssertEqual(fake.reviews.count, 1, "one review per task: \(fake.reviews.map(\.id))\n\(logs.all)", file: file, line: line)
        return try XCTUnwrap(fake.reviews.first, file: file, line: line)
    }

    func testTheReviewIsOnTheReviewedCommit() async throws {
        try await publish([Self.finding()])
        XCTAssertEqual(try onlyReview().commitID, GitHubFixture.prHeadSHA)
    }

    func testAFindingOnADiffLineIsAnInlineComment() async throws {
        try await publish([Self.finding(line: 3)])
        let c = try XCTUnwrap(fake.reviewComments.first, "an inline comment\n\(logs.all)")
        XCTAssertEqual([c.path, String(c.line), c.side], ["src/a.swift", "3", "RIGHT"])
    }

    func testAFindingOffTheDiffGoesInTheBody() async throws {
        try await publish([Self.finding(line: 40, title: "Far away")])
        XCTAssertTrue(fake.reviewComments.isEmpty, "line 40 is not in the diff: no inline comment")
        let body = try onlyReview().body
        XCTAssertTrue(body.contains("Far away"), body)
    }

    func testAFindingWithoutALineGoesInTheBody() async throws {
        try await publish([Self.finding(file: "logo.png", line: nil, title: "Huge image")])
        XCTAssertTrue(try onlyReview().body.contains("Huge image"))
    }

    func testTheEventIsCommentWithoutAThreshold() async throws {
        try await publish([Self.finding(.critical)])
        XCTAssertEqual(try onlyReview().state, "COMMENTED")
    }

    func testAFindingAtTheThresholdRequestsChanges() async throws {
        try await publish([Self.finding(.high)], policy: ReviewPolicy(requestChangesAt: .high))
        XCTAssertEqual(try onlyReview().state, "CHANGES_REQUESTED")
    }

    func testFindingsBelowTheThresholdOnlyComment() async throws {
        try await publish([Self.finding(.medium)], policy: ReviewPolicy(requestChangesAt: .high))
        XCTAssertEqual(try onlyReview().state, "COMMENTED")
    }

    func testAFindingOutsideThePullRequestsFilesIsWithheldAndCounted() async throws {
        try await publish([Self.finding(file: "src/elsewhere.swift", title: "Not here")])
        XCTAssertFalse(try onlyReview().body.contains("Not here"), "withheld from the review")
        let summary = try XCTUnwrap(fake.checkRuns.first?.outputSummary)
        XCTAssertTrue(summary.contains("1 outside the pull request's files"), summary)
    }

    func testAFindingBelowMinSeverityIsWithheldAndCounted() async throws {
        try await publish([Self.finding(.low, line: 2, title: "Nit")], policy: ReviewPolicy(minSeverity: .medium))
        XCTAssertTrue(fake.reviewComments.isEmpty, "a low finding is withheld at min_severity medium")
        let summary = try XCTUnwrap(fake.checkRuns.first?.outputSummary)
        XCTAssertTrue(summary.contains("1 below min_severity medium"), summary)
    }

    func testAFindingTheBotReportedBeforeIsSkipped() async throws {
        let f = Self.finding(line: 2)
        fake.addReviewComment(GitHubFixture.fullName, pullRequest: GitHubFixture.prNumber, path: "src/a.swift", line: 2,
                              body: "earlier\n" + ReviewPlan.marker(f))
        try await publish([f])
        XCTAssertEqual(fake.reviewComments.count, 1, "no second comment for the same finding")
        XCTAssertTrue(try XCTUnwrap(fake.checkRuns.first?.outputSummary).contains("1 skipped as already reported"))
    }

    func testTheCheckRunSummaryShowsEvidenceTestsAndLimitations() async throws {
        try await publish([Self.finding()])
        let summary = try XCTUnwrap(fake.checkRuns.first?.outputSummary)
        for part in ["**Evidence:** partial", "`swift test` | passed | 12 passed", "- no network"] {
            XCTAssertTrue(summary.contains(part), "missing \(part): \(summary)")
        }
    }

    func testTheCheckRunCompletes() async throws {
        try await publish([Self.finding()])
        XCTAssertEqual(fake.checkRuns.first.map { [$0.status, $0.conclusion ?? "-"] }, ["completed", "success"])
    }

    func testAnnotationsAreSentAtMost50PerRequest() async throws {
        let many = (0..<120).map { Self.finding(line: 1 + $0 % 4, title: "Finding \($0)") }
        try await publish(many)
        XCTAssertEqual(fake.checkRuns.first?.annotationBatches, [50, 50, 20], "\(logs.all)")
    }

    func testARepeatedPublicationPostsNoSecondReview() async throws {
        try await publish([Self.finding()])
        try await publish([Self.finding()])
        XCTAssertEqual(fake.reviews.count, 1, "the task's review is found by its marker")
    }

    func testASupersededReviewConcludesNeutralAndPostsNothing() async throws {
        var outcome = Self.outcome([Self.finding()])
        outcome.supersededBy = GitHubFixture.featureSHA
        let p = GitHubPublisher(client: try client(), log: logs.log)
        try await p.publish(.finished(Self.task(), outcome))
        XCTAssertTrue(fake.reviews.isEmpty, "a superseded review's findings are withheld")
        let run = try XCTUnwrap(fake.checkRuns.first)
        XCTAssertEqual(run.conclusion, "neutral")
        XCTAssertTrue(run.outputSummary?.contains("superseded by \(GitHubFixture.featureSHA)") ?? false, run.outputSummary ?? "")
    }

    func testAnUnpinnedReviewUsesThePullRequestsHead() async throws {
        try await publish([Self.finding()], task: Self.task(headSHA: nil))
        XCTAssertEqual(try onlyReview().commitID, GitHubFixture.prHeadSHA)
    }
}

/// What the fake refuses, as GitHub does.
final class FakeGitHubReviewTests: GitHubTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        fake.setPullRequest(GitHubFixture.fullName, .init(number: GitHubFixture.prNumber, headRef: "feature",
                                                          headSHA: GitHubFixture.prHeadSHA, baseRef: "main",
                                                          files: ReviewPublicationTests.files))
    }

    private func post(commit: String = GitHubFixture.prHeadSHA, comments: [GitHubClient.DraftReviewComment]) async throws {
        _ = try await client().createPullRequestReview(GitHubClient.Repo(owner: GitHubFixture.owner, name: GitHubFixture.repo),
                                                       number: GitHubFixture.prNumber, commitID: commit, body: "b",
                                                       event: .comment, comments: comments,
                                                       auth: .installation(GitHubFixture.installationID))
    }

    func testACommentOnALineOutsideTheDiffIs422() async throws {
        let e = await expectAPIError("line 40 is outside the diff") {
            try await self.post(comments: [.init(path: "src/a.swift", line: 40, body: "x")])
        }
        XCTAssertEqual(e?.status, 422)
        XCTAssertTrue(e?.message.contains("Line could not be resolved") ?? false, e?.message ?? "")
    }

    func testACommentOnAFileOutsideThePullRequestIs422() async throws {
        let e = await expectAPIError("not a file of the PR") {
            try await self.post(comments: [.init(path: "other.swift", line: 1, body: "x")])
        }
        XCTAssertEqual(e?.status, 422)
    }

    func testAnUnknownCommitIs422() async throws {
        let e = await expectAPIError("commit_id must exist") {
            try await self.post(commit: String(repeating: "9", count: 40), comments: [])
        }
        XCTAssertEqual(e?.status, 422)
    }

    func testThePullRequestsFilesArePaginated() async throws {
        let many = (0..<130).map { FakeGitHubAPI.PullFile(filename: "f\($0)", patch: "@@ -1 +1 @@\n-a\n+b") }
        fake.setPullRequest(GitHubFixture.fullName, .init(number: 8, headRef: "x", headSHA: GitHubFixture.prHeadSHA,
                                                          baseRef: "main", files: many))
        let files = try await client().pullRequestFiles(GitHubClient.Repo(owner: GitHubFixture.owner, name: GitHubFixture.repo),
                                                        number: 8, auth: .installation(GitHubFixture.installationID))
        XCTAssertEqual(files.count, 130, "both pages")
        XCTAssertEqual(fake.calls("GET", pathSuffix: "/pulls/8/files").count, 2)
    }
}

final class DiffLinesTests: XCTestCase {
    func testAddedAndContextLinesAreOnTheRight() {
        XCTAssertEqual(DiffLines(patch: ReviewPublicationTests.patch).right, [1, 2, 3, 4])
    }

    func testRemovedLinesAreOnTheLeftOnly() {
        let d = DiffLines(patch: "@@ -10,2 +10,1 @@\n-gone\n kept")
        XCTAssertEqual([d.left.sorted(), d.right.sorted()], [[10, 11], [10]])
    }

    func testASecondHunkRestartsTheCount() {
        XCTAssertTrue(DiffLines(patch: "@@ -1 +1 @@\n+a\n@@ -50,1 +51,1 @@\n x").right.contains(51))
    }
}

/// GitHub refusing the review's inline comments (422, e.g. a line GitHub no longer shows
/// after a force-push): the publisher posts the review again with every finding in the body.
final class ReviewPublicationFallbackTests: GitHubTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        fake.setPullRequest(GitHubFixture.fullName, .init(number: GitHubFixture.prNumber, headRef: "feature",
                                                          headSHA: GitHubFixture.prHeadSHA, baseRef: "main",
                                                          files: ReviewPublicationTests.files))
        // The first review POST is refused as GitHub refuses a comment it cannot place.
        fake.injectFailure(status: 422, count: 1, message: "Unprocessable Entity: line must be part of the diff") { method, path in
            method == "POST" && path.hasSuffix("/pulls/\(GitHubFixture.prNumber)/reviews")
        }
    }

    private func publishInlineFinding() async throws {
        let p = GitHubPublisher(client: try client(), options: GitHubPublisher.Options(reviewPolicy: { _ in ReviewPolicy() }),
                                log: logs.log)
        try await p.publish(.finished(ReviewPublicationTests.task(),
                                      ReviewPublicationTests.outcome([ReviewPublicationTests.finding(line: 3, title: "Inline one")])))
    }

    func testTheRefusedInlineFindingIsRepostedInTheReviewBody() async throws {
        try await publishInlineFinding()
        XCTAssertEqual(fake.reviews.count, 1, "one review after the refusal\n\(logs.all)")
        XCTAssertTrue(fake.reviews.first?.body.contains("Inline one") == true,
                      "the finding is in the body: \(fake.reviews.first?.body ?? "no review")")
    }

    func testTheRepostedReviewHasNoInlineComments() async throws {
        try await publishInlineFinding()
        XCTAssertEqual(fake.calls("POST", pathSuffix: "/pulls/\(GitHubFixture.prNumber)/reviews").count, 2,
                       "refused once, posted once more")
        XCTAssertTrue(fake.reviewComments.isEmpty, "nothing inline: \(fake.reviewComments.map(\.path))")
    }
}
