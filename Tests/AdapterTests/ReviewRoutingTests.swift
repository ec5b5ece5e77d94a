import Foundation
import XCTest
import Supervisor
@testable import Adapter

/// Which pull_request deliveries become review tasks (ReviewTrigger), one rule per test.
final class ReviewRoutingTests: XCTestCase {
    static let headSHA = String(repeating: "d", count: 40)

    static func familiar(version: Int = 2, trigger: ReviewPolicy.Trigger = .label,
                         repositories: [String: ReviewPolicy] = [:]) -> FamiliarConfig {
        FamiliarConfig(id: "cody", displayName: "Cody", botUsername: "coven-cody[bot]", contractVersion: version,
                       review: FamiliarReviewPolicy(base: ReviewPolicy(trigger: trigger), repositories: repositories))
    }

    static func delivery(_ action: String, draft: Bool = false, author: String = "octocat", labels: [String] = [],
                         label: String? = nil, requested: String? = nil) -> Data {
        var extra = ""
        if let label { extra += #", "label": {"name": "\#(label)"}"# }
        if let requested { extra += #", "requested_reviewer": {"login": "\#(requested)", "type": "Bot"}"# }
        let labelList = labels.map { #"{"name": "\#($0)"}"# }.joined(separator: ",")
        return Data("""
        {"action": "\(action)", "number": 7,
         "pull_request": {"number": 7, "title": "Add widgets", "draft": \(draft), "user": {"login": "\(author)"},
                          "labels": [\(labelList)], "head": {"ref": "feature", "sha": "\(headSHA)"}, "base": {"ref": "main"}},
         "repository": {"name": "widgets", "owner": {"login": "acme"}, "default_branch": "main",
                        "clone_url": "https://github.com/acme/widgets.git"},
         "installation": {"id": 77}\(extra)}
        """.utf8)
    }

    private func decide(_ body: Data, _ familiars: [FamiliarConfig] = [familiar()]) throws -> WebhookDecision {
        try WebhookIntake.decide(event: "pull_request", deliveryID: "d-1", body: body, familiars: familiars,
                                 makeTaskID: { "t_review" })
    }

    private func reviewTask(_ d: WebhookDecision, file: StaticString = #filePath, line: UInt = #line) -> TaskSpec? {
        guard case .task(let spec, _) = d, spec.kind.isReview else {
            XCTFail("expected a review task, got \(d)", file: file, line: line)
            return nil
        }
        return spec
    }

    private func ignoredReason(_ d: WebhookDecision, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard case .ignored(let r) = d else { XCTFail("expected ignored, got \(d)", file: file, line: line); return "" }
        return r.description
    }

    func testAutomaticActionsReviewAPullRequestWithTheOptInLabel() throws {
        for action in ["opened", "synchronize", "reopened", "ready_for_review"] {
            let d = try decide(Self.delivery(action, labels: [ReviewPolicy.defaultLabel]))
            XCTAssertNotNil(reviewTask(d), action)
        }
    }

    func testWithoutTheOptInLabelNothingIsReviewed() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("opened"))).contains("no label \(ReviewPolicy.defaultLabel)"))
    }

    func testAddingTheOptInLabelStartsAReview() throws {
        XCTAssertNotNil(reviewTask(try decide(Self.delivery("labeled", label: "COVEN:Review"))), "label names compare without case")
    }

    func testAddingAnotherLabelStartsNothing() throws {
        _ = ignoredReason(try decide(Self.delivery("labeled", label: "bug")))
    }

    func testAlwaysReviewsWithoutALabel() throws {
        XCTAssertNotNil(reviewTask(try decide(Self.delivery("opened"), [Self.familiar(trigger: .always)])))
    }

    func testOffReviewsNothingAutomatically() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("opened", labels: [ReviewPolicy.defaultLabel]),
                                               [Self.familiar(trigger: .off)])).contains("off"))
    }

    func testAPerRepositoryPolicyWinsOverTheFamiliars() throws {
        let f = Self.familiar(trigger: .off, repositories: ["Acme/Widgets": ReviewPolicy(trigger: .always)])
        XCTAssertNotNil(reviewTask(try decide(Self.delivery("opened"), [f])))
    }

    func testDraftsAreSkipped() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("opened", draft: true), [Self.familiar(trigger: .always)]))
            .contains("draft"))
    }

    func testAPullRequestTheFamiliarAuthoredIsNotReviewedAutomatically() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("opened", author: "coven-cody[bot]"), [Self.familiar(trigger: .always)]))
            .contains("authored"))
    }

    func testAV1FamiliarDoesNotReviewAutomatically() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("opened"), [Self.familiar(version: 1, trigger: .always)]))
            .contains("contract v1"))
    }

    func testAReviewRequestedFromTheBotStartsAReviewWhateverThePolicy() throws {
        XCTAssertNotNil(reviewTask(try decide(Self.delivery("review_requested", requested: "coven-cody[bot]"),
                                              [Self.familiar(trigger: .off)])))
    }

    func testAReviewRequestedFromSomeoneElseStartsNothing() throws {
        _ = ignoredReason(try decide(Self.delivery("review_requested", requested: "octocat")))
    }

    func testAReviewRequestedFromAV1FamiliarIsATaskToRefuse() throws {
        let spec = reviewTask(try decide(Self.delivery("review_requested", requested: "coven-cody[bot]"), [Self.familiar(version: 1)]))
        XCTAssertEqual(spec?.contractVersion, 1, "queued, then refused with a note (TaskSupervisor.refusal)")
    }

    func testTheReviewPinsTheHeadCommit() throws {
        let spec = reviewTask(try decide(Self.delivery("synchronize"), [Self.familiar(trigger: .always)]))
        XCTAssertEqual(spec?.headSHA, Self.headSHA)
    }

    func testOtherActionsAreIgnored() throws {
        XCTAssertTrue(ignoredReason(try decide(Self.delivery("closed"))).contains("not handled"))
    }

    func testReviewTaskIsTheEntryPointForCommands() {
        let repo = try! JSONDecoder().decode(GitHubRepository.self, from: Data(#"{"name":"widgets","owner":{"login":"acme"}}"#.utf8))
        guard case .task(let spec, let event) = ReviewTrigger.reviewTask(familiar: Self.familiar(), repository: repo, installationID: 77,
                                                                         pullRequest: 9, deliveryID: "d", event: "issue_comment.created")
        else { return XCTFail("a task") }
        XCTAssertEqual([spec.kind.name, String(spec.kind.targetNumber), event], ["review_pull_request", "9", "issue_comment.created"])
    }
}

/// Reviews of a newer commit supersede live ones; the same commit joins.
final class ReviewCoalescingTests: XCTestCase {
    func testAReviewOfANewerCommitSupersedesAReviewOfAnother() {
        var old = ReviewRoutingTests.familiarTask(sha: "a"), new = ReviewRoutingTests.familiarTask(sha: "b")
        old.id = "old"; new.id = "new"
        XCTAssertTrue(TriggerCoalescing.supersedes(new, live: old))
    }

    func testAReviewOfTheSameCommitJoins() {
        XCTAssertTrue(TriggerCoalescing.isCoveredBy(ReviewRoutingTests.familiarTask(sha: "a"), trigger: ReviewRoutingTests.familiarTask(sha: "A")))
    }

    func testAnUnpinnedReviewJoinsAnyLiveReview() {
        XCTAssertTrue(TriggerCoalescing.isCoveredBy(ReviewRoutingTests.familiarTask(sha: "a"), trigger: ReviewRoutingTests.familiarTask(sha: nil)))
    }
}

extension ReviewRoutingTests {
    static func familiarTask(sha: String?) -> TaskSpec {
        TaskSpec(id: "t", installationID: 77, repo: RepoRef(owner: "acme", name: "widgets", cloneURL: "https://x/y.git", defaultBranch: "main"),
                 trigger: .prReviewComment, kind: .reviewPullRequest(prNumber: 7), familiar: FamiliarRef(id: "cody", displayName: "Cody"),
                 headSHA: sha, contractVersion: 2)
    }
}
