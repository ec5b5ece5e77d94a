import Foundation
import XCTest
@testable import Adapter
import Supervisor

/// `WebhookIntake`: from (event, delivery, body, familiars) to a decision.
final class RoutingTests: XCTestCase {
    typealias F = WebhookFixtures

    static let cody = FamiliarConfig(id: "cody", displayName: "Cody", botUsername: "coven-cody[bot]",
                                     triggerLabels: ["coven:fix"], model: "opus", skills: ["rust"])
    static let sage = FamiliarConfig(id: "sage", displayName: "Sage", botUsername: "coven-sage",
                                     triggerLabels: ["coven:fix", "coven:docs"])
    static let familiars = [cody, sage]

    private func decide(_ event: String?, _ body: String, delivery: String? = "d-1",
                        familiars: [FamiliarConfig] = RoutingTests.familiars) throws -> WebhookDecision {
        try WebhookIntake.decide(event: event, deliveryID: delivery, body: body.utf8Data, familiars: familiars,
                                 makeTaskID: { "t_0123456789abcdef" })
    }

    /// The task, or a failure naming what came instead.
    private func task(_ d: WebhookDecision, file: StaticString = #filePath, line: UInt = #line) throws -> (TaskSpec, String) {
        guard case .task(let spec, let event) = d else {
            XCTFail("expected a task, got \(d)", file: file, line: line)
            throw XCTSkip("no task")
        }
        return (spec, event)
    }

    private func ignored(_ d: WebhookDecision) -> IgnoreReason? {
        if case .ignored(let r) = d { return r }
        return nil
    }

    // MARK: issues

    func testAssignedToBotIsFixIssue() throws {
        let (spec, event) = try task(try decide("issues", F.issuesAssigned(assignee: "coven-cody[bot]")))
        XCTAssertEqual(spec.kind, .fixIssue(issueNumber: 42, title: "Fix OAuth token refresh", body: "The refresh path drops clock skew."),
                       "assignment should ask for fix_issue with the issue's number, title and body")
        XCTAssertEqual(spec.trigger, .issueAssigned, "assignment trigger should be issue_assigned")
        XCTAssertEqual(spec.familiar, Self.cody.ref, "assignment to coven-cody[bot] should go to cody")
        XCTAssertEqual(event, "issues.assigned", "decision should record the precise event")
    }

    func testAssignedMatchesWithoutBotSuffixAndAnyCase() throws {
        let (spec, _) = try task(try decide("issues", F.issuesAssigned(assignee: "Coven-Cody")))
        XCTAssertEqual(spec.familiar.id, "cody", "Coven-Cody should equal the bot username coven-cody[bot]")
    }

    func testAssignedToUnsuffixedConfigMatchesBotLogin() throws {
        let (spec, _) = try task(try decide("issues", F.issuesAssigned(assignee: "coven-sage[bot]")))
        XCTAssertEqual(spec.familiar.id, "sage", "coven-sage[bot] should equal the configured coven-sage")
    }

    func testAssignedToAnotherUserIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issues", F.issuesAssigned(assignee: "octocat"))),
                       .noFamiliarMatched(event: "issues.assigned"), "assignment to a human must not start work")
    }

    func testAssignedToLookalikeIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issues", F.issuesAssigned(assignee: "coven-cody2[bot]"))),
                       .noFamiliarMatched(event: "issues.assigned"), "a look-alike login must not match")
    }

    func testIssueFieldsBecomeTaskSpec() throws {
        let (spec, _) = try task(try decide("issues", F.issuesAssigned(assignee: "coven-cody[bot]"), delivery: "72d3162e"))
        XCTAssertEqual(spec.repo, RepoRef(owner: "OpenCoven", name: "coven-code",
                                          cloneURL: "https://github.com/OpenCoven/coven-code.git", defaultBranch: "trunk"),
                       "repo should come from repository owner.login, name, clone_url, default_branch")
        XCTAssertEqual(spec.installationID, 987654, "installation id should come from installation.id")
        XCTAssertEqual(spec.source, .webhook(deliveryID: "72d3162e"), "source should carry the delivery id")
        XCTAssertEqual(spec.id, "t_0123456789abcdef", "id should come from the id generator")
        XCTAssertNil(spec.headSHA, "issues have no known head SHA")
        XCTAssertNil(spec.headRef, "issues have no head ref")
    }

    func testLabeledWithTriggerLabelIsFixIssue() throws {
        let (spec, event) = try task(try decide("issues", F.issuesLabeled(label: "coven:docs")))
        XCTAssertEqual(spec.familiar.id, "sage", "coven:docs is only sage's label")
        XCTAssertEqual(spec.kind.name, "fix_issue", "a trigger label should ask for fix_issue")
        XCTAssertEqual(spec.trigger, .issueAssigned, "labels are filed under issue_assigned")
        XCTAssertEqual(event, "issues.labeled", "the precise event must be kept for the record")
    }

    func testLabelMatchIsCaseInsensitive() throws {
        let (spec, _) = try task(try decide("issues", F.issuesLabeled(label: "Coven:Docs")))
        XCTAssertEqual(spec.familiar.id, "sage", "label names compare case-insensitively, as on GitHub")
    }

    func testLabeledWithOtherLabelIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issues", F.issuesLabeled(label: "bug"))),
                       .noFamiliarMatched(event: "issues.labeled"), "a non-trigger label must not start work")
    }

    func testFirstFamiliarInConfigOrderWins() throws {
        let (first, _) = try task(try decide("issues", F.issuesLabeled(label: "coven:fix")))
        XCTAssertEqual(first.familiar.id, "cody", "both have coven:fix; cody is listed first")
        let (reversed, _) = try task(try decide("issues", F.issuesLabeled(label: "coven:fix"), familiars: [Self.sage, Self.cody]))
        XCTAssertEqual(reversed.familiar.id, "sage", "with sage listed first, sage should win")
    }

    func testOtherIssueActionsAreIgnored() throws {
        for action in ["opened", "unassigned", "unlabeled", "edited", "closed"] {
            XCTAssertEqual(ignored(try decide("issues", F.issuesAction(action))),
                           .unhandledAction(event: "issues", action: action), "issues.\(action) should be ignored")
        }
    }

    func testAssignedPullRequestIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issues", F.issuesAssigned(assignee: "coven-cody[bot]", isPR: true))),
                       .pullRequestNotIssue(event: "issues.assigned"), "an issues event about a PR must not ask for fix_issue")
    }

    // MARK: issue_comment

    func testMentionInIssueCommentIsRespondToMention() throws {
        let body = "@coven-cody can you take a look at this one?"
        let (spec, event) = try task(try decide("issue_comment", F.issueComment(body: body)))
        XCTAssertEqual(spec.kind, .respondToMention(issueNumber: 42, commentBody: body), "mention should ask for respond_to_mention")
        XCTAssertEqual(spec.trigger, .issueMention, "mention trigger should be issue_mention")
        XCTAssertEqual(event, "issue_comment.created", "event should be recorded")
    }

    func testMentionInPRCommentIsAddressReviewComment() throws {
        let body = "@coven-cody the lint is still failing on this PR"
        let (spec, _) = try task(try decide("issue_comment", F.issueComment(body: body, onPR: true)))
        XCTAssertEqual(spec.kind, .addressReviewComment(prNumber: 73, commentBody: body, diffHunk: nil, path: nil, line: nil),
                       "a mention on a PR conversation should ask for address_review_comment on that PR")
        XCTAssertEqual(spec.trigger, .prReviewComment, "a PR comment trigger should be pr_review_comment")
    }

    func testCommentWithoutMentionIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issue_comment", F.issueComment(body: "looks good to me"))),
                       .noFamiliarMatched(event: "issue_comment.created"), "a comment without a mention must not start work")
    }

    func testCommentWithNullBodyIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issue_comment", F.issueComment(body: nil))),
                       .noFamiliarMatched(event: "issue_comment.created"), "a null comment body must be ignored, not fail")
    }

    func testFirstMentionedFamiliarInConfigOrderWins() throws {
        let (spec, _) = try task(try decide("issue_comment", F.issueComment(body: "@coven-sage and @coven-cody, one of you")))
        XCTAssertEqual(spec.familiar.id, "cody", "both are mentioned; config order, not text order, decides")
    }

    func testCommentByTheBotItselfIsIgnored() throws {
        let d = try decide("issue_comment", F.issueComment(body: "@coven-cody I'm on it", author: "coven-cody[bot]", authorType: "Bot"))
        XCTAssertEqual(ignored(d), .authoredByFamiliar(event: "issue_comment.created", login: "coven-cody[bot]"),
                       "a familiar mentioning itself must not loop")
    }

    func testCommentByAnotherFamiliarIsIgnored() throws {
        let d = try decide("issue_comment", F.issueComment(body: "@coven-cody over to you", author: "coven-sage[bot]", authorType: "Bot"))
        XCTAssertEqual(ignored(d), .authoredByFamiliar(event: "issue_comment.created", login: "coven-sage[bot]"),
                       "familiars must not hand work to each other through comments")
    }

    func testCommentByFamiliarLoginWithoutBotSuffixIsIgnored() throws {
        let d = try decide("issue_comment", F.issueComment(body: "@coven-cody again", author: "Coven-Cody", authorType: "User"))
        XCTAssertEqual(ignored(d), .authoredByFamiliar(event: "issue_comment.created", login: "Coven-Cody"),
                       "the bot's login without [bot] (any case) is still the bot")
    }

    func testEditedCommentIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("issue_comment", F.issueComment(body: "@coven-cody", action: "edited"))),
                       .unhandledAction(event: "issue_comment", action: "edited"), "edits must not re-trigger work")
    }

    func testMissingInstallationGivesNilInstallationID() throws {
        let (spec, _) = try task(try decide("issue_comment", F.issueComment(body: "@coven-cody hi, can you look?", withInstallation: false)))
        XCTAssertNil(spec.installationID, "no installation object should mean no installation id")
    }

    // MARK: pull_request_review

    func testReviewMentionIsAddressReviewComment() throws {
        let body = "@coven-cody two of these branches still need tests."
        let (spec, event) = try task(try decide("pull_request_review", F.reviewSubmitted(body: body)))
        XCTAssertEqual(spec.kind, .addressReviewComment(prNumber: 73, commentBody: body, diffHunk: nil, path: nil, line: nil),
                       "a review mention should ask for address_review_comment without hunk/path/line")
        XCTAssertEqual(spec.trigger, .prReviewComment, "review trigger should be pr_review_comment")
        XCTAssertEqual(event, "pull_request_review.submitted", "event should be recorded")
    }

    func testReviewCarriesHeadRefAndSHA() throws {
        let (spec, _) = try task(try decide("pull_request_review", F.reviewSubmitted(body: "@coven-cody please")))
        XCTAssertEqual(spec.headRef, "fix-refresh", "headRef should come from pull_request.head.ref")
        XCTAssertEqual(spec.headSHA, "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "headSHA should come from pull_request.head.sha")
    }

    func testReviewWithNullBodyIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("pull_request_review", F.reviewSubmitted(body: nil))),
                       .noFamiliarMatched(event: "pull_request_review.submitted"), "an approval with no body must be ignored")
    }

    func testReviewByFamiliarIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("pull_request_review", F.reviewSubmitted(body: "@coven-cody fix", author: "coven-sage[bot]"))),
                       .authoredByFamiliar(event: "pull_request_review.submitted", login: "coven-sage[bot]"),
                       "a review by a familiar must not start work")
    }

    func testDismissedReviewIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("pull_request_review", F.reviewSubmitted(body: "@coven-cody", action: "dismissed"))),
                       .unhandledAction(event: "pull_request_review", action: "dismissed"), "dismissed reviews must be ignored")
    }

    // MARK: pull_request_review_comment

    func testReviewCommentCarriesDiffHunkPathAndLine() throws {
        let body = "@coven-cody this off-by-one looks wrong, should it be `<=`?"
        let (spec, event) = try task(try decide("pull_request_review_comment", F.reviewComment(body: body)))
        XCTAssertEqual(spec.kind, .addressReviewComment(prNumber: 73, commentBody: body, diffHunk: F.diffHunk,
                                                        path: "src/auth/refresh.rs", line: 12),
                       "a review comment should carry its diff_hunk, path and line")
        XCTAssertEqual(event, "pull_request_review_comment.created", "event should be recorded")
    }

    func testReviewCommentCarriesHeadRefAndSHA() throws {
        let (spec, _) = try task(try decide("pull_request_review_comment", F.reviewComment(body: "@coven-cody")))
        XCTAssertEqual(spec.headRef, "fix-refresh", "headRef should come from pull_request.head.ref")
        XCTAssertEqual(spec.headSHA, "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "headSHA should come from pull_request.head.sha")
    }

    func testOutdatedReviewCommentHasNilLine() throws {
        let (spec, _) = try task(try decide("pull_request_review_comment", F.reviewComment(body: "@coven-cody", line: nil)))
        guard case .addressReviewComment(_, _, _, _, let line) = spec.kind else { return XCTFail("wrong kind \(spec.kind)") }
        XCTAssertNil(line, "a null line (outdated comment) should stay nil")
    }

    func testReviewCommentByBotIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("pull_request_review_comment", F.reviewComment(body: "@coven-cody done", author: "coven-cody[bot]"))),
                       .authoredByFamiliar(event: "pull_request_review_comment.created", login: "coven-cody[bot]"),
                       "a review comment by the bot must not start work")
    }

    func testEditedReviewCommentIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("pull_request_review_comment", F.reviewComment(body: "@coven-cody", action: "edited"))),
                       .unhandledAction(event: "pull_request_review_comment", action: "edited"), "edited review comments must be ignored")
    }

    // MARK: other events, errors

    func testPing() throws {
        XCTAssertEqual(try decide("ping", F.ping), .ping, "ping should be answered as ping")
    }

    func testUnknownEventIsIgnored() throws {
        XCTAssertEqual(ignored(try decide("push", F.push)), .unknownEvent("push"), "push should be ignored as an unknown event")
    }

    func testInvalidJSONIsAnError() {
        XCTAssertThrowsError(try decide("issues", "{\"action\": \"assigned\",")) { error in
            guard case WebhookIntakeError.invalidJSON = error else { return XCTFail("truncated JSON gave \(error), not invalidJSON") }
            XCTAssertEqual((error as? WebhookIntakeError)?.httpStatus, 400, "invalid JSON should answer 400")
        }
    }

    func testInvalidJSONForUnknownEventIsAnError() {
        XCTAssertThrowsError(try decide("push", "not json")) { error in
            guard case WebhookIntakeError.invalidJSON = error else { return XCTFail("garbage body gave \(error), not invalidJSON") }
        }
    }

    func testNonObjectJSONIsAnError() {
        XCTAssertThrowsError(try decide("issues", "[1,2,3]")) { error in
            guard case WebhookIntakeError.invalidJSON = error else { return XCTFail("a JSON array gave \(error), not invalidJSON") }
        }
    }

    func testMissingRequiredFieldIsInvalidPayload() {
        XCTAssertThrowsError(try decide("issues", #"{"action":"assigned","repository":{"name":"x","owner":{"login":"y"}}}"#)) { error in
            XCTAssertEqual(error as? WebhookIntakeError, .invalidPayload("missing field issue"),
                           "an issues event without issue should be invalidPayload naming the field")
        }
    }

    func testMissingEventHeaderIsAnError() {
        XCTAssertThrowsError(try decide(nil, F.ping)) { error in
            XCTAssertEqual(error as? WebhookIntakeError, .missingHeader("X-GitHub-Event"), "no event header should be missingHeader")
        }
    }

    func testMissingDeliveryHeaderIsAnError() {
        XCTAssertThrowsError(try decide("ping", F.ping, delivery: "")) { error in
            XCTAssertEqual(error as? WebhookIntakeError, .missingHeader("X-GitHub-Delivery"), "empty delivery id should be missingHeader")
        }
    }

    func testHeadersAreMatchedCaseInsensitively() throws {
        let d = try WebhookIntake.decide(headers: ["x-github-event": "issues", "X-GITHUB-DELIVERY": "d-9"],
                                         body: F.issuesAssigned(assignee: "coven-cody[bot]").utf8Data,
                                         familiars: Self.familiars)
        let (spec, _) = try task(d)
        XCTAssertEqual(spec.source, .webhook(deliveryID: "d-9"), "lower/upper-case header names should be found")
    }

    func testGeneratedTaskIDsAreFreshAndWellFormed() {
        let a = TaskID.generate(), b = TaskID.generate()
        XCTAssertNotEqual(a, b, "two generated task ids collided")
        XCTAssertTrue(a.hasPrefix("t_") && a.count == 18 && a.dropFirst(2).allSatisfy { $0.isHexDigit && !$0.isUppercase },
                      "task id \(a) is not t_ + 16 lowercase hex")
    }

    func testNoFamiliarsMeansNothingRuns() throws {
        XCTAssertEqual(ignored(try decide("issues", F.issuesAssigned(assignee: "coven-cody[bot]"), familiars: [])),
                       .noFamiliarMatched(event: "issues.assigned"), "with no familiars configured nothing should run")
    }

    func testFamiliarConfigDecodesFromSnakeCaseJSON() throws {
        let json = #"{"id":"cody","display_name":"Cody","bot_username":"coven-cody[bot]","trigger_labels":["coven:fix"],"model":"opus","skills":["rust"]}"#
        let f = try JSONDecoder().decode(FamiliarConfig.self, from: json.utf8Data)
        XCTAssertEqual(f, Self.cody, "familiar config JSON should decode field for field")
        XCTAssertEqual(f.handle, "coven-cody", "handle should drop [bot]")
    }
}
