import Foundation
import Supervisor

/// Why a delivery could not be taken in at all. Every case is the sender's fault:
/// answer 400 Bad Request. Descriptions name headers and fields, never payload values.
public enum WebhookIntakeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required header (`X-GitHub-Event`, `X-GitHub-Delivery`) is absent or empty.
    case missingHeader(String)
    /// The body is not a JSON object.
    case invalidJSON(String)
    /// The JSON is well-formed but lacks (or mistypes) a field the event needs.
    case invalidPayload(String)

    /// The HTTP status to answer with.
    public var httpStatus: Int { 400 }

    public var description: String {
        switch self {
        case .missingHeader(let h): return "missing \(h) header"
        case .invalidJSON(let why): return "invalid JSON: \(why)"
        case .invalidPayload(let why): return "invalid payload: \(why)"
        }
    }
}

/// Why a well-formed delivery starts no task (answer 2xx: GitHub must not retry it).
public enum IgnoreReason: Sendable, Equatable, CustomStringConvertible {
    /// An event the adapter does not act on (push, check_run, installation, …).
    case unknownEvent(String)
    /// A handled event with an action the adapter does not act on (issues.opened, …).
    case unhandledAction(event: String, action: String?)
    /// The comment or review was written by a familiar's bot: acting on it would loop.
    case authoredByFamiliar(event: String, login: String)
    /// An `issues` event whose issue is a pull request.
    case pullRequestNotIssue(event: String)
    /// No familiar is assigned, labelled for or mentioned.
    case noFamiliarMatched(event: String)
    /// A draft pull request: reviewed once it is marked ready.
    case draftPullRequest(event: String)
    /// No familiar reviews this pull request; `why` says, per familiar, what its policy wanted.
    case noReview(event: String, why: [String])
    /// `installations[]` lists no entry for the delivery's installation (or it names none).
    case installationNotServed(event: String, installation: Int64?)
    /// The installation's entry does not list the repository.
    case repositoryNotServed(event: String, installation: Int64, repository: String)
    /// The installation's entry does not list the familiar the work routed to.
    case familiarNotServing(event: String, installation: Int64, familiar: String)

    public var description: String {
        switch self {
        case .unknownEvent(let e): return "event \(e) is not handled"
        case .unhandledAction(let e, let a): return "action \(a ?? "(none)") of event \(e) is not handled"
        case .authoredByFamiliar(let e, let login): return "\(e): written by familiar bot \(login)"
        case .pullRequestNotIssue(let e): return "\(e): the issue is a pull request"
        case .noFamiliarMatched(let e): return "\(e): no familiar assigned, labelled or mentioned"
        case .draftPullRequest(let e): return "\(e): the pull request is a draft"
        case .noReview(let e, let why):
            return "\(e): no familiar reviews it" + (why.isEmpty ? "" : " (" + why.joined(separator: "; ") + ")")
        case .installationNotServed(let e, let i):
            return "\(e): installation \(i.map(String.init) ?? "(none)") is not served here (no installations[] entry)"
        case .repositoryNotServed(let e, let i, let r):
            return "\(e): repository \(r) is not among installation \(i)'s repositories"
        case .familiarNotServing(let e, let i, let f): return "\(e): familiar \(f) does not serve installation \(i)"
        }
    }
}

/// What to do with a delivery whose signature has already been checked.
public enum WebhookDecision: Sendable, Equatable {
    /// GitHub's `ping`: answer 200, nothing to run.
    case ping
    /// Nothing to run, for `reason`.
    case ignored(IgnoreReason)
    /// Queue `spec`. `event` is the precise `event.action` that caused it
    /// (e.g. "issues.labeled", which the task model files under `issue_assigned`).
    case task(TaskSpec, event: String)
    /// A maintainer's `@bot <verb>` comment: answered (and acted on) by `CommandResponder`.
    case command(MaintainerCommand, event: String)
    /// `installation.deleted`: everything kept of the installation is purged.
    case purgeInstallation(Int64)
}

/// Fresh task ids.
public enum TaskID {
    /// "t_" + 16 lowercase hex digits from the system CSPRNG.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = rng.next() as UInt64
        let hex = String(n, radix: 16)
        return "t_" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Turns a verified GitHub webhook delivery into a decision. Pure apart from drawing a
/// fresh task id: no I/O, no clock, no global state.
///
/// Routing, first matching familiar in `familiars` order wins:
/// - `issues.assigned` to a familiar's bot → `fix_issue` (`issue_assigned`)
/// - `issues.labeled` with a familiar's trigger label → `fix_issue` (`issue_assigned`)
/// - `issue_comment.created` mentioning a familiar → `respond_to_mention` (`issue_mention`),
///   or on a pull request → `address_review_comment` (`pr_review_comment`)
/// - `pull_request_review.submitted` whose body mentions a familiar, and
///   `pull_request_review_comment.created` whose body mentions one →
///   `address_review_comment` (`pr_review_comment`) with the PR head ref/sha
/// - `pull_request` opened/synchronize/reopened/ready_for_review/labeled, and a review
///   requested from a familiar's bot → `review_pull_request` (`ReviewTrigger`)
/// - comments and reviews written by any familiar's bot never start work
/// - everything else is ignored with a reason
public enum WebhookIntake {
    public static let eventHeader = "X-GitHub-Event"
    public static let deliveryHeader = "X-GitHub-Delivery"

    /// Decides from raw request headers (names matched case-insensitively).
    public static func decide(headers: [String: String], body: Data, familiars: [FamiliarConfig],
                              policy: InstallationPolicy = InstallationPolicy(),
                              makeTaskID: () -> String = TaskID.generate) throws(WebhookIntakeError) -> WebhookDecision {
        func header(_ name: String) -> String? {
            let lower = name.lowercased()
            return headers.first { $0.key.lowercased() == lower }?.value
        }
        return try decide(event: header(eventHeader), deliveryID: header(deliveryHeader), body: body,
                          familiars: familiars, policy: policy, makeTaskID: makeTaskID)
    }

    /// Decides from the `X-GitHub-Event` and `X-GitHub-Delivery` values and the raw body.
    public static func decide(event: String?, deliveryID: String?, body: Data, familiars: [FamiliarConfig],
                              policy: InstallationPolicy = InstallationPolicy(),
                              makeTaskID: () -> String = TaskID.generate) throws(WebhookIntakeError) -> WebhookDecision {
        guard let name = event?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            throw .missingHeader(eventHeader)
        }
        guard let delivery = deliveryID?.trimmingCharacters(in: .whitespaces), !delivery.isEmpty else {
            throw .missingHeader(deliveryHeader)
        }
        let parsed = try WebhookEvent.parse(name: name, body: body)
        return route(parsed, deliveryID: delivery, familiars: familiars, policy: policy, makeTaskID: makeTaskID)
    }

    /// Routes, then applies `policy`: a delivery of an installation it does not serve is
    /// ignored whatever it asks (`installation.deleted` excepted: an uninstall always
    /// purges), and work for a repository or familiar the installation's entry does not
    /// list is ignored with that reason.
    public static func route(_ event: WebhookEvent, deliveryID: String, familiars: [FamiliarConfig],
                             policy: InstallationPolicy, makeTaskID: () -> String = TaskID.generate) -> WebhookDecision {
        switch event {
        case .ping, .installation, .other: return route(event, deliveryID: deliveryID, familiars: familiars, makeTaskID: makeTaskID)
        default: break
        }
        if let refused = policy.refusal(installation: event.installationID, event: event.qualifiedName) {
            return .ignored(refused)
        }
        let decision = route(event, deliveryID: deliveryID, familiars: familiars, makeTaskID: makeTaskID)
        let target: (RepoRef, Int64?, String, String)
        switch decision {
        case .task(let spec, let e): target = (spec.repo, spec.installationID, spec.familiar.id, e)
        case .command(let c, let e): target = (c.repo, c.installationID, c.familiar.id, e)
        case .ping, .ignored, .purgeInstallation: return decision
        }
        if let refused = policy.refusal(installation: target.1, repository: "\(target.0.owner)/\(target.0.name)",
                                        familiar: target.2, event: target.3) {
            return .ignored(refused)
        }
        return decision
    }

    /// Routes an already parsed event.
    public static func route(_ event: WebhookEvent, deliveryID: String, familiars: [FamiliarConfig],
                             makeTaskID: () -> String = TaskID.generate) -> WebhookDecision {
        let qualified = event.qualifiedName
        func spec(_ f: FamiliarConfig, _ repo: GitHubRepository, _ inst: GitHubInstallation?, _ trigger: Trigger,
                  _ kind: TaskKind, head: GitHubPullRequest.Head? = nil) -> WebhookDecision {
            .task(TaskSpec(id: makeTaskID(), source: .webhook(deliveryID: deliveryID), installationID: inst?.id,
                           repo: repoRef(repo), trigger: trigger, kind: kind, familiar: f.ref,
                           headRef: head?.ref, headSHA: head?.sha),
                  event: qualified)
        }
        func authoredByFamiliar(_ author: GitHubAccount?) -> IgnoreReason? {
            guard let author, familiars.contains(where: { $0.isBot(login: author.login) }) else { return nil }
            return .authoredByFamiliar(event: qualified, login: author.login)
        }
        func command(_ comment: GitHubComment, _ repo: GitHubRepository, _ inst: GitHubInstallation?, number: Int, isPR: Bool,
                     title: String, issueBody: String, head: GitHubPullRequest.Head?) -> MaintainerCommand? {
            guard let body = comment.body, !body.isEmpty else { return nil }
            for f in familiars {
                guard let word = MaintainerCommand.commandWord(body: body, handle: f.handle) else { continue }
                return MaintainerCommand(word: word, familiar: f, repo: repoRef(repo), installationID: inst?.id,
                                         number: number, isPullRequest: isPR, commentID: comment.id,
                                         author: comment.user?.login ?? "", deliveryID: deliveryID, title: title,
                                         issueBody: issueBody, commentBody: body, headRef: head?.ref, headSHA: head?.sha)
            }
            return nil
        }
        func mentioned(in body: String?) -> FamiliarConfig? {
            guard let body, !body.isEmpty else { return nil }
            return familiars.first { MentionMatcher.mentions(body: body, handle: $0.handle) }
        }

        switch event {
        case .ping:
            return .ping

        case .installation(let p):
            guard p.action == "deleted" else { return .ignored(.unhandledAction(event: "installation", action: p.action)) }
            return .purgeInstallation(p.installation.id)

        case .issues(let p):
            let familiar: FamiliarConfig?
            switch p.action {
            case "assigned":
                familiar = p.assignee.flatMap { a in familiars.first { $0.isBot(login: a.login) } }
            case "labeled":
                familiar = p.label.flatMap { l in familiars.first { $0.isTriggerLabel(l.name) } }
            default:
                return .ignored(.unhandledAction(event: "issues", action: p.action))
            }
            guard let familiar else { return .ignored(.noFamiliarMatched(event: qualified)) }
            if p.issue.isPullRequest { return .ignored(.pullRequestNotIssue(event: qualified)) }
            return spec(familiar, p.repository, p.installation, .issueAssigned,
                        .fixIssue(issueNumber: p.issue.number, title: p.issue.title, body: p.issue.body ?? ""))

        case .issueComment(let p):
            guard p.action == "created" else { return .ignored(.unhandledAction(event: "issue_comment", action: p.action)) }
            if let loop = authoredByFamiliar(p.comment.user) { return .ignored(loop) }
            if let c = command(p.comment, p.repository, p.installation, number: p.issue.number, isPR: p.issue.isPullRequest,
                               title: p.issue.title, issueBody: p.issue.body ?? "", head: nil) {
                return .command(c, event: qualified)
            }
            guard let familiar = mentioned(in: p.comment.body) else { return .ignored(.noFamiliarMatched(event: qualified)) }
            let body = p.comment.body ?? ""
            if p.issue.isPullRequest {
                return spec(familiar, p.repository, p.installation, .prReviewComment,
                            .addressReviewComment(prNumber: p.issue.number, commentBody: body,
                                                  diffHunk: nil, path: nil, line: nil))
            }
            return spec(familiar, p.repository, p.installation, .issueMention,
                        .respondToMention(issueNumber: p.issue.number, commentBody: body))

        case .pullRequestReview(let p):
            guard p.action == "submitted" else {
                return .ignored(.unhandledAction(event: "pull_request_review", action: p.action))
            }
            if let loop = authoredByFamiliar(p.review.user) { return .ignored(loop) }
            guard let familiar = mentioned(in: p.review.body) else { return .ignored(.noFamiliarMatched(event: qualified)) }
            return spec(familiar, p.repository, p.installation, .prReviewComment,
                        .addressReviewComment(prNumber: p.pullRequest.number, commentBody: p.review.body ?? "",
                                              diffHunk: nil, path: nil, line: nil),
                        head: p.pullRequest.head)

        case .pullRequestReviewComment(let p):
            guard p.action == "created" else {
                return .ignored(.unhandledAction(event: "pull_request_review_comment", action: p.action))
            }
            if let loop = authoredByFamiliar(p.comment.user) { return .ignored(loop) }
            if let c = command(p.comment, p.repository, p.installation, number: p.pullRequest.number, isPR: true,
                               title: p.pullRequest.title ?? "", issueBody: "", head: p.pullRequest.head) {
                return .command(c, event: qualified)
            }
            guard let familiar = mentioned(in: p.comment.body) else { return .ignored(.noFamiliarMatched(event: qualified)) }
            return spec(familiar, p.repository, p.installation, .prReviewComment,
                        .addressReviewComment(prNumber: p.pullRequest.number, commentBody: p.comment.body ?? "",
                                              diffHunk: p.comment.diffHunk, path: p.comment.path, line: p.comment.line),
                        head: p.pullRequest.head)

        case .pullRequest(let p):
            return ReviewTrigger.route(p, deliveryID: deliveryID, familiars: familiars, makeTaskID: makeTaskID)

        case .other(let name, _):
            return .ignored(.unknownEvent(name))
        }
    }

    /// The task model's repository. `clone_url` and `default_branch` are always in real
    /// deliveries; when absent, the public github.com clone URL and "main" stand in.
    static func repoRef(_ r: GitHubRepository) -> RepoRef {
        RepoRef(owner: r.owner.login, name: r.name,
                cloneURL: r.cloneURL ?? "https://github.com/\(r.owner.login)/\(r.name).git",
                defaultBranch: r.defaultBranch ?? "main")
    }
}
