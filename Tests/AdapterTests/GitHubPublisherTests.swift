import Foundation
import Synchronization
import XCTest
import Supervisor
@testable import Adapter
@testable import AdapterTesting

/// GitHubPublisher end to end against the fake GitHub.
final class GitHubPublisherTests: GitHubTestCase {
    private func publisher(_ options: GitHubPublisher.Options = GitHubPublisher.Options()) throws -> GitHubPublisher {
        GitHubPublisher(client: try client(), options: options, log: logs.log)
    }

    private func onlyCheckRun(file: StaticString = #filePath, line: UInt = #line) throws -> FakeGitHubAPI.CheckRun {
        let runs = fake.checkRuns
        XCTAssertEqual(runs.count, 1, "expected exactly one check run, got \(runs.map(\.id))", file: file, line: line)
        return try XCTUnwrap(runs.first, file: file, line: line)
    }

    private func statusComments(_ taskID: String, issue: Int) -> [FakeGitHubAPI.Comment] {
        fake.comments.filter { $0.issue == issue && StatusComment.isStatusComment($0.body, taskID: taskID) }
    }

    // MARK: Queued

    func testIssueTaskCheckRunGoesOnTheDefaultBranchHead() async throws {
        try await publisher().taskQueued(GitHubFixture.issueTask())
        let run = try onlyCheckRun()
        XCTAssertEqual(run.headSHA, GitHubFixture.mainSHA, "an issue task's check run belongs on the default branch head")
        XCTAssertEqual(run.status, "queued")
        XCTAssertEqual(run.name, "coven: Cody", "check run name should carry the familiar's display name")
        XCTAssertEqual(run.externalID, GitHubFixture.issueTask().id, "external_id should be the task id")
    }

    func testPRTaskCheckRunGoesOnThePullRequestHead() async throws {
        try await publisher().taskQueued(GitHubFixture.prTask())
        XCTAssertEqual(try onlyCheckRun().headSHA, GitHubFixture.prHeadSHA, "a PR task's check run belongs on the PR head")
    }

    func testGivenHeadSHAIsUsedAsIs() async throws {
        try await publisher().taskQueued(GitHubFixture.issueTask(headSHA: GitHubFixture.featureSHA))
        XCTAssertEqual(try onlyCheckRun().headSHA, GitHubFixture.featureSHA, "TaskSpec.headSHA must win")
        XCTAssertTrue(fake.calls("GET", pathSuffix: "/branches/main").isEmpty, "no lookup needed when the SHA is given")
    }

    func testQueuedPostsOneStatusCommentWithTheMarker() async throws {
        let task = GitHubFixture.issueTask()
        try await publisher().taskQueued(task)
        let comments = statusComments(task.id, issue: 12)
        XCTAssertEqual(comments.count, 1, "one status comment on the issue")
        XCTAssertTrue(comments.first?.body.hasPrefix("<!-- coven-supervisor:task=\(task.id) -->") ?? false,
                      "the comment must start with the hidden marker")
        XCTAssertTrue(comments.first?.body.contains("queued") ?? false, "the comment should say the task is queued")
    }

    func testCheckRunIDIsReportedAndKept() async throws {
        let reported = Mutex<[String: Int64]>([:])
        let p = try publisher(GitHubPublisher.Options(onCheckRunCreated: { task, id in
            reported.withLock { $0[task] = id }
        }))
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        let id = try onlyCheckRun().id
        XCTAssertEqual(reported.withLock { $0 }, [task.id: id], "the persistence hook must get the new check run id")
        XCTAssertEqual(p.checkRunID(forTask: task.id), id, "the publisher must remember the id while the task runs")
    }

    // MARK: Running

    func testAttemptStartedMarksTheCheckRunInProgress() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.attemptStarted(task, attempt: 1)
        let run = try onlyCheckRun()
        XCTAssertEqual(run.statusHistory, ["queued", "in_progress"], "the same check run must move to in_progress")
        XCTAssertTrue(statusComments(task.id, issue: 12).first?.body.contains("attempt 1 running") ?? false,
                      "the status comment should say which attempt runs")
    }

    // MARK: Success

    func testSuccessCompletesTheCheckRunAndOpensADraftPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.attemptStarted(task, attempt: 1)
        await p.taskFinished(task, outcome: GitHubFixture.success())

        let run = try onlyCheckRun()
        XCTAssertEqual(run.statusHistory, ["queued", "in_progress", "completed"])
        XCTAssertEqual(run.conclusion, "success")
        let pulls = fake.pullRequestsCreated
        XCTAssertEqual(pulls.count, 1, "one draft PR for a successful result with commits")
        XCTAssertEqual(pulls.first?.head, "coven/fix-12", "PR head must be the result's branch")
        XCTAssertEqual(pulls.first?.base, "main", "PR base must be the default branch for an issue task")
        XCTAssertEqual(pulls.first?.draft, true, "the PR must be a draft")
        XCTAssertTrue(pulls.first?.body.contains("Closes #12") ?? false, "the PR should close the issue it fixes")
        XCTAssertTrue(run.outputSummary?.contains("#\(pulls.first?.number ?? -1)") ?? false,
                      "the check run summary should link the PR: \(run.outputSummary ?? "-")")
        XCTAssertTrue(logs.all.isEmpty, "nothing should have failed: \(logs.all)")
    }

    func testStatusCommentIsCreatedOnceThenEdited() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.attemptStarted(task, attempt: 1)
        await p.taskFinished(task, outcome: GitHubFixture.success())
        let comments = statusComments(task.id, issue: 12)
        XCTAssertEqual(comments.count, 1, "exactly one status comment per task")
        XCTAssertEqual(comments.first?.edits, 2, "the comment must be edited in place (attempt, then outcome)")
        XCTAssertEqual(fake.calls("POST", pathSuffix: "/issues/12/comments").count, 1, "one comment created")
        XCTAssertTrue(comments.first?.body.contains("Opened draft pull request") ?? false,
                      "the final comment should mention the PR: \(comments.first?.body ?? "-")")
    }

    func testPartialResultIsNeutralWithADraftPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success(status: .partial, disposition: .neutral))
        XCTAssertEqual(try onlyCheckRun().conclusion, "neutral")
        XCTAssertEqual(fake.pullRequestsCreated.count, 1, "a partial result with commits still gets a draft PR")
    }

    func testSuccessWithoutCommitsOpensNoPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success(commits: 0))
        XCTAssertEqual(try onlyCheckRun().conclusion, "success")
        XCTAssertTrue(fake.calls("POST", pathSuffix: "/pulls").isEmpty, "no PR without commits")
    }

    func testPRTaskPushingToItsOwnBranchOpensNoNewPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.prTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success(branch: "feature/pr-7"))
        XCTAssertTrue(fake.calls("POST", pathSuffix: "/pulls").isEmpty, "commits on the PR's own branch need no new PR")
        XCTAssertTrue(statusComments(task.id, issue: GitHubFixture.prNumber).first?.body.contains("to this pull request") ?? false,
                      "the comment should say the commits went onto this PR")
    }

    func testPRTaskWithANewBranchTargetsThePRsBase() async throws {
        let p = try publisher()
        let task = GitHubFixture.prTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success(branch: "coven/fix-12"))
        XCTAssertEqual(fake.pullRequestsCreated.first?.base, "main", "a PR task's new PR targets the PR's base")
    }

    func testExistingPRForTheBranchIsReportedNotDuplicated() async throws {
        let p = try publisher()
        let first = GitHubFixture.issueTask(id: "t_0000000000000001")
        let second = GitHubFixture.issueTask(id: "t_0000000000000002")
        await p.taskQueued(first)
        await p.taskFinished(first, outcome: GitHubFixture.success())
        await p.taskQueued(second)
        await p.taskFinished(second, outcome: GitHubFixture.success())
        XCTAssertEqual(fake.pullRequestsCreated.count, 1, "a second run on the same branch must not open a second PR")
        XCTAssertEqual(fake.checkRuns.last?.conclusion, "success", "the second task still succeeds")
        XCTAssertTrue(logs.all.isEmpty, "an existing PR is not a failure: \(logs.all)")
    }

    // MARK: Needs input, failure, cancel

    func testNeedsInputIsActionRequiredWithTheQuestionAndNoPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        let result = ResultEnvelope(status: .needsInput, summary: "Unclear spec.", prBody: "Should widgets be round or square?")
        await p.taskFinished(task, outcome: TaskOutcome(state: .completed, disposition: .actionRequired, result: result))
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "action_required")
        XCTAssertTrue(run.outputSummary?.contains("round or square") ?? false, "the check run should carry the question")
        XCTAssertTrue(statusComments(task.id, issue: 12).first?.body.contains("> Should widgets be round or square?") ?? false,
                      "the status comment must ask the question (quoted)")
        XCTAssertTrue(fake.calls("POST", pathSuffix: "/pulls").isEmpty, "no PR on needs_input")
    }

    func testFailureCompletesWithTheRedactedReasonAndNoPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        let leaked = "ghs_" + String(repeating: "Z", count: 36)
        await p.taskFinished(task, outcome: TaskOutcome(state: .failed, disposition: .failure,
                                                        reason: "attempt timed out after pushing with \(leaked)"))
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "failure")
        XCTAssertEqual(run.outputTitle, "Failed")
        XCTAssertTrue(run.outputSummary?.contains("attempt timed out") ?? false, "the reason belongs in the summary")
        XCTAssertFalse(run.outputSummary?.contains(leaked) ?? true, "a token shape in the reason must be redacted")
        XCTAssertFalse(statusComments(task.id, issue: 12).first?.body.contains(leaked) ?? true, "nor in the comment")
        XCTAssertTrue(fake.calls("POST", pathSuffix: "/pulls").isEmpty, "no PR on failure")
    }

    func testFailureWithASuccessfulLookingResultOpensNoPR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        // Exit code said failure though the result says success (contract mismatch).
        await p.taskFinished(task, outcome: GitHubFixture.success(disposition: .failure))
        XCTAssertEqual(try onlyCheckRun().conclusion, "failure")
        XCTAssertTrue(fake.calls("POST", pathSuffix: "/pulls").isEmpty, "the disposition decides: no PR on failure")
    }

    func testCancelledCompletesAsCancelled() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: TaskOutcome(state: .cancelled, disposition: .cancelled, reason: "cancelled"))
        XCTAssertEqual(try onlyCheckRun().conclusion, "cancelled", "cancelled is an allowed check run conclusion")
    }

    func testCheckRunConclusionSaysHowTheTaskEnded() async throws {
        let cases: [(TaskOutcome, String)] = [
            (TaskOutcome(state: .failed, disposition: .failure, reason: "gave up after 1 attempts: attempt timed out",
                         timedOut: true), "timed_out"),
            (TaskOutcome(state: .failed, disposition: .failure, reason: "runtime exited with unexpected status 9"), "failure"),
            (TaskOutcome(state: .cancelled, disposition: .cancelled, reason: "cancelled while running"), "cancelled"),
        ]
        for (n, (outcome, conclusion)) in cases.enumerated() {
            let task = GitHubFixture.issueTask(id: "t-conclusion-\(n)")
            let p = try publisher()
            await p.taskQueued(task)
            await p.taskFinished(task, outcome: outcome)
            let run = try XCTUnwrap(fake.checkRuns.first { $0.externalID == task.id }, "no Check Run for \(task.id)")
            XCTAssertEqual(run.conclusion, conclusion, "\(outcome.reason ?? "-") (timedOut \(outcome.timedOut)) must conclude \(conclusion)")
        }
    }

    // MARK: Resilience

    func testFailingCommentEndpointDoesNotStopTheCheckRun() async throws {
        fake.injectFailure(status: 500, count: 1000) { _, path in path.contains("/comments") }
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.attemptStarted(task, attempt: 1)
        await p.taskFinished(task, outcome: GitHubFixture.success())
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "success", "the check run must complete even when comments fail")
        XCTAssertEqual(fake.pullRequestsCreated.count, 1, "the PR must still be opened")
        XCTAssertEqual(logs.all.filter { $0.contains("status comment") }.count, 3,
                       "each failed comment step should be logged once: \(logs.all)")
        for line in logs.all { XCTAssertFalse(line.contains("ghs_"), "log line leaks a token: \(line)") }
    }

    func testFailingPRCreationStillCompletesTheCheckRun() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success(branch: "never-pushed"))
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "success", "the outcome is published even when the PR cannot be opened")
        XCTAssertTrue(run.outputSummary?.contains("could not be opened") ?? false, "the summary should say the PR failed")
        XCTAssertTrue(logs.all.contains { $0.contains("pull request") && $0.contains("422") },
                      "the PR failure should be logged with its status: \(logs.all)")
    }

    func testFinishingWithoutACheckRunCreatesACompletedOne() async throws {
        fake.injectFailure(status: 422, count: 1) { method, path in method == "POST" && path.hasSuffix("/check-runs") }
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)  // its check run creation fails
        await p.taskFinished(task, outcome: TaskOutcome(state: .failed, disposition: .failure, reason: "boom"))
        let run = try onlyCheckRun()
        XCTAssertEqual(run.statusHistory, ["completed"], "the outcome must still land as a completed check run")
        XCTAssertEqual(run.conclusion, "failure")
    }

    func testRestoredCheckRunIsUpdatedNotDuplicated() async throws {
        let task = GitHubFixture.issueTask()
        try await publisher().taskQueued(task)
        let id = try onlyCheckRun().id
        let restarted = try publisher()  // a new daemon process: nothing in memory
        restarted.restoreCheckRun(id, forTask: task.id)
        await restarted.taskFinished(task, outcome: GitHubFixture.success())
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "success", "the restored check run must be completed")
        XCTAssertEqual(statusComments(task.id, issue: 12).count, 1, "the status comment must be found again by its marker")
    }

    func testACheckRunWhoseIDWasNeverKeptIsFoundAndUsed() async throws {
        let task = GitHubFixture.issueTask()
        try await publisher().taskQueued(task)
        // Another host (or a daemon killed before it kept the id) publishes next, knowing nothing.
        let elsewhere = try publisher()
        await elsewhere.taskFinished(task, outcome: GitHubFixture.success())
        let run = try onlyCheckRun()
        XCTAssertEqual(run.conclusion, "success", "the run found by its external id is the one completed")
    }

    func testAPersonQuotingTheMarkerIsNotEdited() async throws {
        let task = GitHubFixture.issueTask()
        let humanID = fake.addComment(GitHubFixture.fullName, issue: 12,
                                      body: StatusComment.marker(taskID: task.id) + "\nlooks like the bot's comment")
        try await publisher().taskQueued(task)
        XCTAssertEqual(fake.comments.first { $0.id == humanID }?.edits, 0, "a person's comment must never be edited")
        XCTAssertEqual(fake.comments.filter { $0.userType == "Bot" }.count, 1, "the bot posts its own status comment")
    }

    func testLocalTaskIsSkipped() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask(installation: nil)
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success())
        XCTAssertTrue(fake.calls.isEmpty, "a task without an installation publishes nothing")
        XCTAssertEqual(logs.all.count, 2, "each skipped event is logged")
    }

    func testPublicationUsesOneCachedToken() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.attemptStarted(task, attempt: 1)
        await p.taskFinished(task, outcome: GitHubFixture.success())
        XCTAssertEqual(fake.tokensIssued.count, 1, "the whole lifecycle should run on one publication token")
        XCTAssertTrue(fake.calls.filter { $0.path.hasPrefix("/repos/") }.allSatisfy { $0.token?.id == 1 },
                      "every repository call must use the publication token")
    }

    // MARK: Text

    func testAgentTextCannotForgeAMarker() {
        let task = GitHubFixture.issueTask()
        let result = ResultEnvelope(status: .success, branch: "b", commits: [], summary: "<!-- coven-supervisor:task=t_other -->")
        let body = StatusComment.render(task: task, phase: .finished(
            TaskOutcome(state: .completed, disposition: .success, result: result), pullRequest: nil, note: nil))
        XCTAssertFalse(body.contains("<!-- coven-supervisor:task=t_other"), "agent text must not carry a live marker")
        XCTAssertTrue(StatusComment.isStatusComment(body, taskID: task.id), "the real marker stays first")
    }
}

/// The status comment says when later triggers joined the task (issue #10, item 16).
final class GitHubPublisherCoalescingTests: GitHubTestCase {
    func testStatusCommentSaysHowManyTriggersJoinedTheTask() async throws {
        let task = GitHubFixture.issueTask()
        var finished = TaskOutcome(state: .failed, disposition: .failure, reason: "gave up")
        finished.coalescedTriggers = 2
        let events: [(String, PublicationEvent)] = [
            ("queued", .queued(task, coalesced: 2)), ("started", .started(task, attempt: 1, coalesced: 2)),
            ("finished", .finished(task, finished)),
        ]
        let publisher = GitHubPublisher(client: try client(), log: logs.log)
        for (name, event) in events {
            try await publisher.publish(event)
            let body = fake.comments.last { StatusComment.isStatusComment($0.body, taskID: task.id) }?.body ?? ""
            XCTAssertTrue(body.contains("2 more requests for the same work were merged into this task"),
                          "\(name): the comment must say so: \(body)")
        }
        XCTAssertEqual(fake.comments.filter { StatusComment.isStatusComment($0.body, taskID: task.id) }.count, 1,
                       "still one status comment")
    }
}
