import Foundation
import Synchronization
import Supervisor

/// Publishes a task's lifecycle to GitHub as the App: a Check Run on the task's head
/// commit, one marker-backed status comment on the issue or pull request, and a draft
/// pull request for a successful (or partial) result with commits.
///
/// - `taskQueued`: resolves the head SHA (the task's `headSHA`, else the PR's head for PR
///   tasks, else the default branch's head), creates the Check Run (`queued`), posts the
///   status comment.
/// - `attemptStarted`: Check Run → `in_progress`; comment "attempt N running".
/// - `taskFinished`: opens the draft PR when warranted, then always completes the Check
///   Run (creating it if it never was) with the outcome's conclusion (`timed_out` for a
///   timeout, `cancelled` for a cancel, else the disposition's), then edits the
///   comment (asking the question for needs_input).
///
/// Every step is independent: a failure is logged through `log` (errors never carry
/// tokens) and the remaining steps still run. Through `publish` (what the supervisor's
/// outbox calls), an event with a step that failed for a reason worth retrying (no
/// response, 5xx, rate limited) then throws `.retryLater`, and is delivered again later;
/// so is one whose pull request could not be opened for such a reason, before the Check
/// Run is completed without it. Every step is safe to repeat: the Check Run id is kept
/// (and persisted by the daemon), the comment is found again by its marker, and a PR
/// that already exists for the branch is reused. The three event methods swallow the
/// retry. Tasks without an installation (local mode) are skipped with a log line.
public final class GitHubPublisher: Publisher {
    public struct Options: Sendable {
        /// The Check Run name; "coven: <display name>" by default.
        public var checkRunName: @Sendable (FamiliarRef) -> String
        /// A page with the task's details (the Check Run's `details_url`), if any.
        public var detailsURL: (@Sendable (TaskSpec) -> String?)?
        /// Called when a Check Run is created for a task, so the daemon can persist the id
        /// (and give it back with `restoreCheckRun` after a restart).
        public var onCheckRunCreated: (@Sendable (_ taskID: String, _ checkRunID: Int64) -> Void)?
        /// Where a task's Check Run id is looked up when this process does not know it (a
        /// fleet: another host created the run; or a restart).
        public var checkRunLookup: (@Sendable (_ taskID: String) -> Int64?)?
        /// Receives one structured event per step that succeeded on GitHub
        /// (`check_run_completed`, `pull_request_opened`), so operators see successes too.
        public var onPublished: (@Sendable (_ event: String, _ fields: [String: String]) -> Void)?
        /// What a review task's familiar may publish in that repository (thresholds, gates).
        public var reviewPolicy: @Sendable (TaskSpec) -> ReviewPolicy

        public init(checkRunName: @escaping @Sendable (FamiliarRef) -> String = { "coven: \($0.displayName)" },
                    detailsURL: (@Sendable (TaskSpec) -> String?)? = nil,
                    onCheckRunCreated: (@Sendable (_ taskID: String, _ checkRunID: Int64) -> Void)? = nil,
                    checkRunLookup: (@Sendable (_ taskID: String) -> Int64?)? = nil,
                    onPublished: (@Sendable (_ event: String, _ fields: [String: String]) -> Void)? = nil,
                    reviewPolicy: @escaping @Sendable (TaskSpec) -> ReviewPolicy = { _ in ReviewPolicy() }) {
            self.checkRunName = checkRunName
            self.detailsURL = detailsURL
            self.onCheckRunCreated = onCheckRunCreated
            self.checkRunLookup = checkRunLookup
            self.onPublished = onPublished
            self.reviewPolicy = reviewPolicy
        }
    }

    /// What is known about a task's publication (in memory).
    struct Record: Sendable {
        var checkRunID: Int64?
        var commentID: Int64?
        var headSHA: String?
        var pull: GitHubClient.PullRequestInfo?
        var defaultBranch: String?
    }

    public let client: GitHubClient
    public let options: Options
    let log: @Sendable (String) -> Void
    private let records = Mutex<[String: Record]>([:])

    /// - Parameter log: receives one line per failed (or skipped) publication step.
    public init(client: GitHubClient, options: Options = Options(),
                log: @escaping @Sendable (String) -> Void = GitHubPublisher.stderrLog) {
        self.client = client
        self.options = options
        self.log = log
    }

    public static let stderrLog: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    // MARK: - Check Run ids

    /// The Check Run id of a task still in progress, if one was created (or restored).
    public func checkRunID(forTask taskID: String) -> Int64? {
        records.withLock { $0[taskID]?.checkRunID }
    }

    /// Every known task → Check Run id.
    public var checkRunIDs: [String: Int64] {
        records.withLock { $0.compactMapValues(\.checkRunID) }
    }

    /// Gives back a persisted Check Run id (after a restart), so the run is updated rather
    /// than a second one created.
    public func restoreCheckRun(_ checkRunID: Int64, forTask taskID: String) {
        records.withLock { $0[taskID, default: Record()].checkRunID = checkRunID }
    }

    func record(_ taskID: String) -> Record {
        var r = records.withLock { $0[taskID] ?? Record() }
        if r.checkRunID == nil, let id = options.checkRunLookup?(taskID) {
            update(taskID) { $0.checkRunID = id }
            r.checkRunID = id
        }
        return r
    }
    private func update(_ taskID: String, _ body: (inout Record) -> Void) {
        records.withLock { body(&$0[taskID, default: Record()]) }
    }

    // MARK: - Publisher

    public func taskQueued(_ task: TaskSpec) async { _ = try? await publish(.queued(task)) }

    public func attemptStarted(_ task: TaskSpec, attempt: Int) async { _ = try? await publish(.started(task, attempt: attempt)) }

    public func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async { _ = try? await publish(.finished(task, outcome)) }

    public func publish(_ event: PublicationEvent) async throws(PublicationError) {
        var retry: [String] = []
        switch event {
        case .queued(let task, let coalesced, let waitingFor):
            guard let ctx = context(task, event: "queued") else { return }
            await step(task, "create the Check Run", &retry) {
                // Queued again with a restored run (a restart): leave the run as it is.
                guard self.record(task.id).checkRunID == nil else { return }
                try await self.createCheckRun(task, ctx, status: .queued, output: StatusComment.progressOutput(phase: .queued))
            }
            await step(task, "post the status comment", &retry) {
                try await self.upsertComment(task, ctx, StatusComment.render(task: task, phase: .queued, coalesced: coalesced,
                                                                          waitingFor: waitingFor))
            }

        case .started(let task, let attempt, let coalesced):
            guard let ctx = context(task, event: "attempt started") else { return }
            let output = StatusComment.progressOutput(phase: .running(attempt: attempt))
            await step(task, "mark the Check Run in progress", &retry) {
                if let id = self.record(task.id).checkRunID {
                    do {
                        _ = try await self.client.updateCheckRun(ctx.repo, id: id, status: .inProgress, output: output,
                                                                 auth: ctx.auth)
                        return
                    } catch let e as GitHubAPIError where e.isHTTP(404) {
                        self.log("github: task \(task.id): Check Run \(id) is gone (404); creating a new one")
                    }
                }
                try await self.createCheckRun(task, ctx, status: .inProgress, output: output)
            }
            await step(task, "update the status comment", &retry) {
                try await self.upsertComment(task, ctx, StatusComment.render(task: task, phase: .running(attempt: attempt),
                                                                             coalesced: coalesced))
            }

        case .finished(let task, let outcome):
            guard let ctx = context(task, event: "finished") else {
                records.withLock { _ = $0.removeValue(forKey: task.id) }
                return
            }
            var pr: StatusComment.PullRequestNote?
            var note: String?
            var reviewOutput: GitHubClient.CheckRunOutput?
            if task.kind.isReview {
                if let sha = outcome.supersededBy {
                    reviewOutput = ReviewText.supersededOutput(by: sha)
                    note = "Superseded by \(sha.prefix(40)): a newer push is reviewed instead."
                } else if outcome.state == .completed, let result = outcome.result, let review = result.review {
                    do {
                        let published = try await publishReview(task, ctx, result, review)
                        reviewOutput = published.output
                        note = published.note
                    } catch {
                        log("github: task \(task.id): post the pull request review failed: \(error)")
                        if Self.isRetryable(error) { throw .retryLater(reason: "post the review: \(Self.shortError(error))") }
                        note = "The review could not be posted (\(Self.shortError(error)))."
                    }
                }
            } else if Self.pullRequestWarranted(outcome) {
                do {
                    let note = try await publishPullRequest(task, ctx, outcome.result!)
                    pr = note
                    options.onPublished?("pull_request_opened", ["task": task.id, "repo": "\(task.repo.owner)/\(task.repo.name)",
                                                                 "number": String(note.number), "action": "\(note.action)"])
                } catch {
                    log("github: task \(task.id): open the draft pull request failed: \(error)")
                    // Worth another try before the Check Run is completed without it.
                    if Self.isRetryable(error) { throw .retryLater(reason: "open the draft pull request: \(Self.shortError(error))") }
                    note = "The draft pull request could not be opened (\(Self.shortError(error)))."
                }
            }

            let output = reviewOutput ?? StatusComment.checkRunOutput(task: task, outcome: outcome, pullRequest: pr, note: note)
            // A superseded review is no failure and no verdict: neutral.
            let conclusion: GitHubClient.CheckRunConclusion = outcome.supersededBy != nil ? .neutral
                : GitHubClient.CheckRunConclusion(outcome)
            // GitHub takes at most 50 annotations a request: the first batch goes with the
            // conclusion, the others follow as updates.
            let batches = ReviewText.batches(output)
            await step(task, "complete the Check Run", &retry) {
                var done = false
                if let id = self.record(task.id).checkRunID {
                    do {
                        _ = try await self.client.updateCheckRun(ctx.repo, id: id, status: .completed, conclusion: conclusion,
                                                                 output: batches[0], auth: ctx.auth)
                        done = true
                    } catch let e as GitHubAPIError where e.isHTTP(404) {
                        self.log("github: task \(task.id): Check Run \(id) is gone (404); creating a completed one")
                    }
                }
                if !done {
                    try await self.createCheckRun(task, ctx, status: .completed, conclusion: conclusion, output: batches[0])
                }
                if let id = self.record(task.id).checkRunID {
                    for more in batches.dropFirst() {
                        _ = try await self.client.updateCheckRun(ctx.repo, id: id, output: more, auth: ctx.auth)
                    }
                }
                self.completed(task, conclusion)
            }
            await step(task, "update the status comment", &retry) {
                try await self.upsertComment(task, ctx, StatusComment.render(
                    task: task, phase: .finished(outcome, pullRequest: pr, note: note), coalesced: outcome.coalescedTriggers))
            }
            // Kept for the retry, which must update this Check Run, not create a second.
            if retry.isEmpty { records.withLock { _ = $0.removeValue(forKey: task.id) } }
        }
        if !retry.isEmpty { throw .retryLater(reason: retry.joined(separator: "; ")) }
    }

    // MARK: - Steps

    private func completed(_ task: TaskSpec, _ conclusion: GitHubClient.CheckRunConclusion) {
        options.onPublished?("check_run_completed", ["task": task.id, "repo": "\(task.repo.owner)/\(task.repo.name)",
                                                     "check_run": record(task.id).checkRunID.map(String.init) ?? "-",
                                                     "conclusion": conclusion.rawValue])
    }

    struct Context: Sendable {
        var repo: GitHubClient.Repo
        var auth: GitHubClient.Auth
    }

    private func context(_ task: TaskSpec, event: String) -> Context? {
        guard let installation = task.installationID else {
            log("github: task \(task.id) \(event): no GitHub App installation (local task); nothing published")
            return nil
        }
        return Context(repo: GitHubClient.Repo(task.repo), auth: .installation(installation))
    }

    /// Runs one publication step; a failure is logged, and noted in `retry` when another
    /// try may succeed.
    private func step(_ task: TaskSpec, _ what: String, _ retry: inout [String], _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            log("github: task \(task.id): \(what) failed: \(error)")
            if Self.isRetryable(error) { retry.append("\(what): \(Self.shortError(error))") }
        }
    }

    /// Whether GitHub may well accept the same call later: no response at all, a 5xx (the
    /// client already retried it), a rate limit. A 4xx says the call itself is wrong.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let e = error as? GitHubAPIError else { return false }
        switch e.kind {
        case .transport, .rateLimited: return true
        case .http: return (e.status ?? 0) >= 500
        case .invalidResponse, .configuration: return false
        }
    }

    private func createCheckRun(_ task: TaskSpec, _ ctx: Context, status: GitHubClient.CheckRunStatus,
                                conclusion: GitHubClient.CheckRunConclusion? = nil,
                                output: GitHubClient.CheckRunOutput) async throws {
        let sha = try await headSHA(task, ctx)
        // A run made for this task by a host (or a daemon) that died before keeping its id:
        // found by its external id and used, so the task never gets a second one.
        let name = options.checkRunName(task.familiar)
        if let existing = try await client.checkRuns(ctx.repo, ref: sha, name: name, auth: ctx.auth)
            .first(where: { $0.externalID == task.id }) {
            update(task.id) { $0.checkRunID = existing.run.id }
            options.onCheckRunCreated?(task.id, existing.run.id)
            if existing.run.status != "completed" || conclusion != nil {
                _ = try await client.updateCheckRun(ctx.repo, id: existing.run.id, status: status, conclusion: conclusion,
                                                    output: output, auth: ctx.auth)
            }
            return
        }
        let run = try await client.createCheckRun(ctx.repo, name: name, headSHA: sha,
                                                  status: status, conclusion: conclusion, output: output,
                                                  detailsURL: options.detailsURL?(task), externalID: task.id,
                                                  auth: ctx.auth)
        update(task.id) { $0.checkRunID = run.id }
        options.onCheckRunCreated?(task.id, run.id)
    }

    /// The commit the Check Run belongs on: the task's `headSHA`, else the PR's head for
    /// PR tasks, else the head of the default branch.
    func headSHA(_ task: TaskSpec, _ ctx: Context) async throws -> String {
        if let sha = record(task.id).headSHA { return sha }
        let sha: String
        if let given = task.headSHA, !given.isEmpty {
            sha = given
        } else if let number = Self.pullNumber(task) {
            sha = try await pull(task, ctx, number).headSHA
        } else {
            sha = try await client.branchHeadSHA(ctx.repo, branch: try await defaultBranch(task, ctx), auth: ctx.auth)
        }
        update(task.id) { $0.headSHA = sha }
        return sha
    }

    private func pull(_ task: TaskSpec, _ ctx: Context, _ number: Int) async throws -> GitHubClient.PullRequestInfo {
        if let p = record(task.id).pull { return p }
        let p = try await client.pullRequest(ctx.repo, number: number, auth: ctx.auth)
        update(task.id) { $0.pull = p }
        return p
    }

    private func defaultBranch(_ task: TaskSpec, _ ctx: Context) async throws -> String {
        let given = task.repo.defaultBranch.trimmingCharacters(in: .whitespaces)
        if !given.isEmpty { return given }
        if let b = record(task.id).defaultBranch { return b }
        let b = try await client.repository(ctx.repo, auth: ctx.auth).defaultBranch
        update(task.id) { $0.defaultBranch = b }
        return b
    }

    /// The marker-backed comment: edit the one we know, else the one carrying the marker,
    /// else post a new one.
    private func upsertComment(_ task: TaskSpec, _ ctx: Context, _ body: String) async throws {
        let issue = task.kind.targetNumber
        if let id = record(task.id).commentID {
            do {
                _ = try await client.updateIssueComment(ctx.repo, commentID: id, body: body, auth: ctx.auth)
                return
            } catch let e as GitHubAPIError where e.isHTTP(404) {
                update(task.id) { $0.commentID = nil }
            }
        }
        let existing = try await client.issueComments(ctx.repo, issue: issue, auth: ctx.auth).last {
            StatusComment.isStatusComment($0.body, taskID: task.id) && ($0.userType == nil || $0.userType == "Bot")
        }
        let comment: GitHubClient.IssueComment
        if let existing {
            comment = try await client.updateIssueComment(ctx.repo, commentID: existing.id, body: body, auth: ctx.auth)
        } else {
            comment = try await client.createIssueComment(ctx.repo, issue: issue, body: body, auth: ctx.auth)
        }
        update(task.id) { $0.commentID = comment.id }
    }

    /// A draft PR from the result's branch into the default branch (or the PR's base).
    /// For a PR task whose commits went onto the PR's own branch (same repository),
    /// nothing is opened; a fork PR's task pushed a new branch here, opened as a draft.
    private func publishPullRequest(_ task: TaskSpec, _ ctx: Context, _ result: ResultEnvelope) async throws
        -> StatusComment.PullRequestNote
    {
        let branch = result.branch!.trimmingCharacters(in: .whitespaces)
        let base: String
        if let number = Self.pullNumber(task) {
            let p = try await pull(task, ctx, number)
            // Only a head in this repository is the PR's own branch: a fork's same-named
            // branch is another branch altogether (the task pushed a new one here).
            if p.headIsIn(ctx.repo) && branch == p.headRef {
                return StatusComment.PullRequestNote(action: .pushedToPullRequest, number: p.number, url: p.htmlURL)
            }
            base = p.baseRef
        } else {
            base = try await defaultBranch(task, ctx)
        }
        do {
            let created = try await client.createPullRequest(ctx.repo, title: Self.pullTitle(task, result), head: branch,
                                                             base: base, body: Self.pullBody(task, result), draft: true,
                                                             auth: ctx.auth)
            return StatusComment.PullRequestNote(action: .opened, number: created.number, url: created.htmlURL)
        } catch let e as GitHubAPIError where e.isHTTP(422) && e.message.lowercased().contains("already exists") {
            guard let open = try await client.openPullRequest(ctx.repo, head: branch, base: base, auth: ctx.auth) else {
                throw e
            }
            return StatusComment.PullRequestNote(action: .existing, number: open.number, url: open.htmlURL)
        }
    }

    // MARK: - Rules

    /// A PR only for success or partial, with a branch and at least one commit (never for
    /// a review: its publication is the review).
    public static func pullRequestWarranted(_ outcome: TaskOutcome) -> Bool {
        guard outcome.disposition == .success || outcome.disposition == .neutral,
              let r = outcome.result, r.status == .success || r.status == .partial,
              let b = r.branch, !b.trimmingCharacters(in: .whitespaces).isEmpty
        else { return false }
        return !r.commits.isEmpty
    }

    static func pullNumber(_ task: TaskSpec) -> Int? { task.kind.pullRequestNumber }

    static func pullTitle(_ task: TaskSpec, _ result: ResultEnvelope) -> String {
        let title: String
        if case .fixIssue(let n, let t, _) = task.kind {
            let clean = t.trimmingCharacters(in: .whitespacesAndNewlines)
            title = clean.isEmpty ? "Fix #\(n)" : "Fix #\(n): \(clean)"
        } else {
            let first = result.summary.split(separator: "\n").first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            title = first.isEmpty ? "\(task.familiar.displayName): changes for #\(task.kind.targetNumber)" : first
        }
        let safe = Redactor.redactShapes(title).replacingOccurrences(of: "\r", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
        return safe.count > 120 ? String(safe.prefix(117)) + "…" : safe
    }

    static func pullBody(_ task: TaskSpec, _ result: ResultEnvelope) -> String {
        let text = result.prBody.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? result.summary : result.prBody
        var body = StatusComment.untrusted(text, limit: 50_000)
        if case .fixIssue(let n, _, _) = task.kind { body += "\n\nCloses #\(n)." }
        body += "\n\n<sub>Opened by coven-supervisor for task `\(StatusComment.safeID(task.id))`"
            + " (\(StatusComment.displayName(task.familiar))).</sub>"
        return body
    }

    static func shortError(_ error: any Error) -> String {
        guard let e = error as? GitHubAPIError else { return "unexpected error" }
        return (e.status.map { "HTTP \($0)" } ?? e.kind.rawValue) + ": " + e.message
    }
}
