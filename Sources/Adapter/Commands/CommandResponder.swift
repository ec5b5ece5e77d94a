import Foundation
import Synchronization
import Supervisor

/// Carries out maintainers' commands (`MaintainerCommand`) and answers each with one
/// comment on the issue or pull request, off the webhook's thread:
///
/// 1. A comment already answered (the reply's marker is there) is left alone: a command is
///    answered once, however often it is delivered.
/// 2. An unknown verb is answered with the list of verbs.
/// 3. Verbs that change something need write, maintain or admin permission (looked up,
///    cached for a short time); without it the reply refuses, politely.
/// 4. `fix` queues a task (the installation's limits apply), `retry` queues the latest
///    finished task again, `cancel` cancels the live one, `status` says how the latest
///    stands, `help` lists the verbs, `review` goes to the `ReviewRequester`.
///
/// A daemon stopped between the delivery's answer and the reply loses the command (the
/// maintainer writes it again); a reply that was posted is never repeated.
public final class CommandResponder: Sendable {
    public typealias Log = @Sendable (String, [String: String]) -> Void

    private let client: GitHubClient
    private let store: TaskStore
    private let supervisor: TaskSupervisor
    private let reviews: any ReviewRequester
    private let permissions: PermissionCache
    private let log: Log
    private let pending = PendingCount()

    public init(client: GitHubClient, store: TaskStore, supervisor: TaskSupervisor,
                reviews: any ReviewRequester = ReviewsNotEnabled(), permissions: PermissionCache? = nil,
                log: @escaping Log = { _, _ in }) {
        self.client = client
        self.store = store
        self.supervisor = supervisor
        self.reviews = reviews
        self.permissions = permissions ?? PermissionCache(client: client)
        self.log = log
    }

    /// Handles `command` in the background; returns at once.
    public func submit(_ command: MaintainerCommand) {
        pending.add()
        Task.detached { [self] in
            await respond(command)
            pending.done()
        }
    }

    /// Waits until no submitted command is being handled (tests, shutdown).
    @discardableResult
    public func waitUntilIdle(timeout: TimeInterval) -> Bool { pending.waitForZero(timeout: timeout) }

    /// What became of a command (the `result` of its `command` log line).
    public enum Result: String, Sendable {
        case answered, refused, unknownVerb = "unknown_verb", alreadyAnswered = "already_answered"
        case noInstallation = "no_installation", failed
    }

    /// Carries out `command` and posts its answer.
    @discardableResult
    public func respond(_ command: MaintainerCommand) async -> Result {
        let result: Result
        do {
            result = try await carryOut(command)
        } catch {
            log("command_failed", fields(command).merging(["error": Redactor.redactShapes("\(error)")]) { $1 })
            return .failed
        }
        log("command", fields(command).merging(["result": result.rawValue]) { $1 })
        return result
    }

    private func fields(_ c: MaintainerCommand) -> [String: String] {
        ["delivery": c.deliveryID, "verb": CommandReplies.safe(c.word), "repo": "\(c.repo.owner)/\(c.repo.name)",
         "number": String(c.number), "user": CommandReplies.safe(c.author), "familiar": c.familiar.id]
    }

    private func carryOut(_ c: MaintainerCommand) async throws -> Result {
        guard let installation = c.installationID else { return .noInstallation }
        let repo = GitHubClient.Repo(c.repo)
        let marker = CommandReplies.marker(c)
        let earlier = try await client.issueComments(repo, issue: c.number, auth: .installation(installation))
        if earlier.contains(where: { $0.body.hasPrefix(marker) }) { return .alreadyAnswered }

        func reply(_ text: String, _ result: Result) async throws -> Result {
            _ = try await client.createIssueComment(repo, issue: c.number, body: CommandReplies.body(c, text),
                                                    auth: .installation(installation))
            return result
        }
        guard let verb = c.verb else { return try await reply(CommandReplies.unknown(c), .unknownVerb) }
        if verb.needsWriteAccess {
            let p = try await permissions.permission(installation: installation, repo: repo, user: c.author)
            if !p.canWrite { return try await reply(CommandReplies.refused(c, p), .refused) }
        }
        return try await reply(try await perform(verb, c), .answered)
    }

    /// The familiar's tasks on the command's issue or pull request, newest first.
    private func tasks(_ c: MaintainerCommand) throws -> [TaskRecord] {
        try store.tasks(onTarget: "\(c.repo.owner)/\(c.repo.name)", number: c.number).filter { $0.spec.familiar.id == c.familiar.id }
    }

    private func perform(_ verb: MaintainerCommand.Verb, _ c: MaintainerCommand) async throws -> String {
        let name = "**\(c.familiar.displayName)**"
        switch verb {
        case .help:
            return CommandReplies.help(c)
        case .status:
            let all = try tasks(c)
            guard let t = all.first(where: { $0.state == .queued || $0.state == .running }) ?? all.first else {
                return "\(name) has no task for \(CommandReplies.target(c)) yet."
            }
            return CommandReplies.state(t)
        case .fix:
            return try fix(c)
        case .retry:
            let all = try tasks(c)
            if let live = all.first(where: { $0.state == .queued || $0.state == .running }) {
                return "Task `\(live.id)` is still \(live.state.rawValue): nothing to retry until it ends (or `cancel` it)."
            }
            guard let last = all.first else { return "\(name) has no finished task for \(CommandReplies.target(c)) to retry." }
            switch try supervisor.retry(taskID: last.id) {
            case .queued: return "Task `\(last.id)` is queued again; its earlier attempts are kept."
            case .notFinished(let s): return "Task `\(last.id)` is \(s.rawValue): nothing to retry until it ends."
            }
        case .cancel:
            guard let live = try tasks(c).first(where: { $0.state == .queued || $0.state == .running }) else {
                return "Nothing to cancel: \(name) has no queued or running task for \(CommandReplies.target(c))."
            }
            switch try supervisor.cancel(taskID: live.id) {
            case .cancelled: return "Cancelled task `\(live.id)`."
            case .running(let n): return "Cancelling task `\(live.id)`: attempt \(n) is being torn down."
            case .alreadyFinished(let s): return "Task `\(live.id)` had already ended (\(s.rawValue))."
            }
        case .review:
            guard c.isPullRequest else { return "`review` works on pull requests only." }
            switch await reviews.requestReview(c) {
            case .queued(let id): return "Queued a review of this pull request as task `\(CommandReplies.safe(id))`."
            case .notEnabled: return "Reviews are not enabled for this familiar."
            case .declined(let reason): return "No review: \(CommandReplies.cut(reason))."
            }
        }
    }

    /// `fix`: a task for the issue (or, on a pull request, for the comment's request), with
    /// an id derived from the comment, so that it is created once.
    private func fix(_ c: MaintainerCommand) throws -> String {
        let kind: TaskKind = c.isPullRequest
            ? .addressReviewComment(prNumber: c.number, commentBody: c.commentBody, diffHunk: nil, path: nil, line: nil)
            : .fixIssue(issueNumber: c.number, title: c.title.isEmpty ? "Issue #\(c.number)" : c.title, body: c.issueBody)
        let spec = TaskSpec(id: "t_" + String(WebhookEndpoint.sha256Hex(Data("fix:\(c.replyKey):\(c.familiar.id)".utf8)).prefix(16)),
                            source: .webhook(deliveryID: c.deliveryID), installationID: c.installationID, repo: c.repo,
                            trigger: c.isPullRequest ? .prReviewComment : .issueAssigned, kind: kind,
                            familiar: c.familiar.ref, headRef: c.headRef, headSHA: c.headSHA)
        let key = TriggerCoalescing.key(spec)
        if let live = try tasks(c).first(where: { ($0.state == .queued || $0.state == .running) && TriggerCoalescing.key($0.spec) == key }) {
            return "Task `\(live.id)` is already \(live.state.rawValue) for \(CommandReplies.target(c))."
        }
        do { try TaskValidation.validate(spec) } catch { return "Not started: \(error)." }
        let admission: Admission
        do {
            admission = try supervisor.submit(spec)
        } catch StoreError.duplicateTask(let id) {
            return "Task `\(id)` was started for this comment already."
        }
        switch admission {
        case .admitted(nil): return "Started task `\(spec.id)` (\(spec.kind.name))."
        case .admitted(let held?): return "Queued task `\(spec.id)` (\(spec.kind.name)); it waits for the installation's limit: \(held)."
        case .refused(let reason): return "Not started: \(reason)."
        }
    }
}

/// Commands being handled, for `waitUntilIdle`.
private final class PendingCount: @unchecked Sendable {
    private let cond = NSCondition()
    private var n = 0
    func add() { cond.lock(); n += 1; cond.unlock() }
    func done() { cond.lock(); n -= 1; cond.broadcast(); cond.unlock() }
    func waitForZero(timeout: TimeInterval) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        cond.lock(); defer { cond.unlock() }
        while n > 0 { if !cond.wait(until: end) { return n == 0 } }
        return true
    }
}
