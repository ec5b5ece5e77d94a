import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
import Supervisor
import HTTP

/// Maintainers' commands from signed deliveries to the bot's replies on the fake GitHub.
final class CommandTests: XCTestCase {
    private var f: CommandFixture!

    override func setUpWithError() throws {
        f = try CommandFixture()
        f.fake.setCollaborator(CommandFixture.repo, "maintainer", role: "maintain")
        f.fake.setCollaborator(CommandFixture.repo, "reader", role: "read")
    }

    override func tearDown() { f = nil }

    func testACommandIsAcceptedWith202AndItsVerb() throws {
        let r = f.deliver("issue_comment", CommandFixture.comment("@coven-cody status"))
        XCTAssertEqual(r.status, 202)
        XCTAssertEqual(r.jsonObject["command"] as? String, "status")
    }

    func testHelpListsEveryVerbWithoutAPermissionLookup() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody help", author: "stranger"))
        let reply = f.replies().first ?? ""
        for verb in MaintainerCommand.Verb.allCases {
            XCTAssertTrue(reply.contains("`@coven-cody \(verb.rawValue)`"), "help does not list \(verb): \(reply)")
        }
        XCTAssertEqual(f.permissionLookups, 0, "help needs no permission")
    }

    func testAnUnknownVerbIsAnsweredWithTheListOfVerbs() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody deploy"))
        let reply = f.replies().first ?? ""
        XCTAssertTrue(reply.contains("I don't know the command `deploy`"), reply)
        XCTAssertTrue(reply.contains("`@coven-cody retry`"), "the reply lists the verbs: \(reply)")
    }

    func testAnUnknownVerbIsAnsweredOnlyOnceWhenTheCommentIsDeliveredTwice() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody deploy", commentID: 900), delivery: "d-a")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody deploy", commentID: 900), delivery: "d-b")
        XCTAssertEqual(f.replies().count, 1, "one answer per comment: \(f.replies())")
    }

    /// Who may run a changing command: write, maintain and admin; not triage, read or a stranger.
    func testChangingVerbsNeedWriteMaintainOrAdmin() throws {
        let cases: [(role: String?, allowed: Bool)] = [("admin", true), ("maintain", true), ("write", true),
                                                      ("triage", false), ("read", false), (nil, false)]
        for (i, c) in cases.enumerated() {
            let user = "user\(i)"
            if let role = c.role { f.fake.setCollaborator(CommandFixture.repo, user, role: role) }
            f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix", author: user, commentID: Int64(700 + i),
                                                               number: 30 + i))
            let reply = f.replies(on: 30 + i).first ?? ""
            XCTAssertEqual(reply.contains("Sorry @\(user)"), !c.allowed, "role \(c.role ?? "none"): \(reply)")
            XCTAssertEqual(try f.tasks(on: 30 + i).count, c.allowed ? 1 : 0, "role \(c.role ?? "none") tasks")
        }
    }

    func testARefusalIsPoliteAndNamesTheNeededAccess() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody cancel", author: "reader"))
        XCTAssertEqual(f.replies(), [f.replies().first].compactMap { $0 })
        let reply = f.replies().first ?? ""
        XCTAssertTrue(reply.contains("Sorry @reader") && reply.contains("needs write, maintain or admin access")
                      && reply.contains("you have `read` access"), reply)
    }

    func testARefusalIsAnsweredOnce() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix", author: "reader", commentID: 42), delivery: "x1")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix", author: "reader", commentID: 42), delivery: "x2")
        XCTAssertEqual(f.replies().count, 1)
    }

    func testPermissionsAreCachedForAShortTime() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix", commentID: 1))
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody cancel", commentID: 2))
        XCTAssertEqual(f.permissionLookups, 1, "the second command reuses the first lookup")
    }

    func testTheBotsOwnCommentNeverTriggersACommand() throws {
        let r = f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix", author: "coven-cody[bot]"))
        XCTAssertEqual(r.status, 200)
        XCTAssertNotNil(r.jsonObject["ignored"], "a familiar's own comment is ignored")
        XCTAssertEqual(f.replies(), [])
        XCTAssertEqual(try f.tasks().count, 0)
    }

    func testAQuotedCommandIsNoCommand() {
        let r = f.deliver("issue_comment", CommandFixture.comment("> @coven-cody fix\n\nWhy did this run?"))
        XCTAssertNil(r.jsonObject["command"])
        XCTAssertEqual(f.replies(), [])
    }

    func testFixStartsAFixTaskForTheIssue() throws {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix"))
        let tasks = try f.tasks()
        XCTAssertEqual(tasks.count, 1)
        XCTAssertEqual(tasks.first?.spec.kind.name, "fix_issue")
        XCTAssertEqual(tasks.first?.state, .queued)
        XCTAssertTrue(f.replies().first?.contains("Started task `\(tasks.first?.id ?? "?")`") ?? false, "\(f.replies())")
    }

    func testFixWhileATaskIsLiveStartsNoSecond() throws {
        let live = try f.storeTask(id: "t_live000000000001")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody fix"))
        XCTAssertEqual(try f.tasks().map(\.id), [live.id])
        XCTAssertTrue(f.replies().first?.contains("is already queued") ?? false, "\(f.replies())")
    }

    func testRetryQueuesTheLatestFinishedTaskAgain() throws {
        let spec = try f.storeTask(id: "t_done000000000001")
        _ = try f.store.cancel(taskID: spec.id)
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody retry"))
        XCTAssertEqual(try f.store.task(id: spec.id)?.record.state, .queued)
        XCTAssertTrue(f.replies().first?.contains("is queued again") ?? false, "\(f.replies())")
    }

    func testRetryWithoutAFinishedTaskSaysSo() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody retry"))
        XCTAssertTrue(f.replies().first?.contains("no finished task") ?? false, "\(f.replies())")
    }

    func testCancelCancelsTheLiveTask() throws {
        let spec = try f.storeTask(id: "t_live000000000002")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody cancel"))
        XCTAssertEqual(try f.store.task(id: spec.id)?.record.state, .cancelled)
        XCTAssertTrue(f.replies().first?.contains("Cancelled task `\(spec.id)`") ?? false, "\(f.replies())")
    }

    func testStatusReportsTheLiveTasksState() throws {
        let spec = try f.storeTask(id: "t_live000000000003")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody status", author: "stranger"))
        XCTAssertTrue(f.replies().first?.contains("Task `\(spec.id)` (fix_issue) is queued") ?? false, "\(f.replies())")
        XCTAssertEqual(f.permissionLookups, 0, "status needs no permission")
    }

    func testReviewAnswersNotEnabledByDefault() {
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody review", onPR: true))
        XCTAssertTrue(f.replies().first?.contains("Reviews are not enabled for this familiar.") ?? false, "\(f.replies())")
    }

    /// serve's `@bot review`: the review lane, which only a contract-v2 familiar has.
    func testReviewThroughTheReviewLaneQueuesAReviewTaskForAContractV2Familiar() throws {
        var v2 = CommandFixture.familiar
        v2.contractVersion = 2
        f = try CommandFixture(reviews: nil, familiar: v2)
        f.fake.setCollaborator(CommandFixture.repo, "maintainer", role: "write")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody review", onPR: true))
        let tasks = try f.tasks(on: 12)
        XCTAssertEqual(tasks.map(\.spec.kind.name), ["review_pull_request"], "one review task for the PR: \(f.replies())")
        XCTAssertTrue(f.replies().first?.contains("Queued a review of this pull request as task `\(tasks.first?.id ?? "?")`") ?? false,
                      "\(f.replies())")
    }

    func testReviewThroughTheReviewLaneIsNotEnabledForAContractV1Familiar() throws {
        f = try CommandFixture(reviews: nil)
        f.fake.setCollaborator(CommandFixture.repo, "maintainer", role: "write")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody review", onPR: true))
        XCTAssertTrue(f.replies().first?.contains("Reviews are not enabled for this familiar.") ?? false, "\(f.replies())")
        XCTAssertEqual(try f.tasks(on: 12).count, 0, "no task for a v1 familiar")
    }

    func testReviewGoesToTheReviewRequester() throws {
        struct Queues: ReviewRequester {
            func requestReview(_ command: MaintainerCommand) async -> ReviewRequestOutcome { .queued(taskID: "t_review0000000001") }
        }
        f = try CommandFixture(reviews: Queues())
        f.fake.setCollaborator(CommandFixture.repo, "maintainer", role: "write")
        f.deliver("issue_comment", CommandFixture.comment("@coven-cody review", onPR: true))
        XCTAssertTrue(f.replies().first?.contains("task `t_review0000000001`") ?? false, "\(f.replies())")
    }
}

extension HTTPResponse {
    var jsonObject: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
}
