import Foundation

// Typed views of the GitHub webhook payloads the adapter acts on. Only the fields the
// router reads are decoded; everything else in a payload is ignored. Fields GitHub may
// send as null (bodies, `line`, `installation`) are optional.

/// A GitHub account (`user`, `sender`, `assignee`, `owner`).
public struct GitHubAccount: Sendable, Equatable, Decodable {
    public var login: String
    /// "User", "Bot" or "Organization", when the payload says.
    public var type: String?

    public init(login: String, type: String? = nil) { self.login = login; self.type = type }
}

/// The `repository` object.
public struct GitHubRepository: Sendable, Equatable, Decodable {
    public var name: String
    public var owner: GitHubAccount
    public var cloneURL: String?
    public var defaultBranch: String?

    enum CodingKeys: String, CodingKey {
        case name, owner, cloneURL = "clone_url", defaultBranch = "default_branch"
    }
}

/// The `installation` object (present when the App's webhook delivered the event).
public struct GitHubInstallation: Sendable, Equatable, Decodable {
    public var id: Int64
}

/// The `issue` object (issues and issue comments; a PR is an issue with `pull_request`).
public struct GitHubIssue: Sendable, Equatable, Decodable {
    public var number: Int
    public var title: String
    public var body: String?
    public var user: GitHubAccount?
    /// True when the issue is a pull request (`issue.pull_request` is present).
    public var isPullRequest: Bool

    enum CodingKeys: String, CodingKey { case number, title, body, user, pullRequest = "pull_request" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        number = try c.decode(Int.self, forKey: .number)
        title = try c.decode(String.self, forKey: .title)
        body = try c.decodeIfPresent(String.self, forKey: .body)
        user = try c.decodeIfPresent(GitHubAccount.self, forKey: .user)
        isPullRequest = try c.contains(.pullRequest) && !c.decodeNil(forKey: .pullRequest)
    }
}

/// The `label` object.
public struct GitHubLabel: Sendable, Equatable, Decodable {
    public var name: String
}

/// A comment: an issue comment, or a pull request review comment (which adds
/// `path`, `diff_hunk` and `line`).
public struct GitHubComment: Sendable, Equatable, Decodable {
    public var id: Int64?
    public var body: String?
    public var user: GitHubAccount?
    public var path: String?
    public var diffHunk: String?
    /// The line in the PR's current diff; null for comments on outdated code.
    public var line: Int?

    enum CodingKeys: String, CodingKey { case id, body, user, path, diffHunk = "diff_hunk", line }
}

/// The `review` object of `pull_request_review`.
public struct GitHubReview: Sendable, Equatable, Decodable {
    public var id: Int64?
    public var body: String?
    public var state: String?
    public var user: GitHubAccount?
}

/// The `pull_request` object (only what routing needs).
public struct GitHubPullRequest: Sendable, Equatable, Decodable {
    public struct Head: Sendable, Equatable, Decodable {
        public var ref: String?
        public var sha: String?
        public init(ref: String? = nil, sha: String? = nil) { self.ref = ref; self.sha = sha }
    }
    public var number: Int
    public var title: String?
    public var head: Head?
    public var base: Head?
    public var draft: Bool?
    /// The author.
    public var user: GitHubAccount?
    public var labels: [GitHubLabel]?

    public init(number: Int, title: String? = nil, head: Head? = nil, base: Head? = nil, draft: Bool? = nil,
                user: GitHubAccount? = nil, labels: [GitHubLabel]? = nil) {
        self.number = number; self.title = title; self.head = head; self.base = base; self.draft = draft
        self.user = user; self.labels = labels
    }
}

/// `pull_request` event payload.
public struct PullRequestPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var pullRequest: GitHubPullRequest
    /// `labeled`: the label added.
    public var label: GitHubLabel?
    /// `review_requested`: the account asked (absent when a team was).
    public var requestedReviewer: GitHubAccount?
    public var repository: GitHubRepository
    public var installation: GitHubInstallation?
    public var sender: GitHubAccount?

    enum CodingKeys: String, CodingKey {
        case action, pullRequest = "pull_request", label, requestedReviewer = "requested_reviewer"
        case repository, installation, sender
    }
}

/// `issues` event payload.
public struct IssuesPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var issue: GitHubIssue
    public var assignee: GitHubAccount?
    public var label: GitHubLabel?
    public var repository: GitHubRepository
    public var installation: GitHubInstallation?
    public var sender: GitHubAccount?
}

/// `issue_comment` event payload.
public struct IssueCommentPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var issue: GitHubIssue
    public var comment: GitHubComment
    public var repository: GitHubRepository
    public var installation: GitHubInstallation?
    public var sender: GitHubAccount?
}

/// `pull_request_review` event payload.
public struct PullRequestReviewPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var review: GitHubReview
    public var pullRequest: GitHubPullRequest
    public var repository: GitHubRepository
    public var installation: GitHubInstallation?
    public var sender: GitHubAccount?

    enum CodingKeys: String, CodingKey {
        case action, review, pullRequest = "pull_request", repository, installation, sender
    }
}

/// `pull_request_review_comment` event payload.
public struct PullRequestReviewCommentPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var comment: GitHubComment
    public var pullRequest: GitHubPullRequest
    public var repository: GitHubRepository
    public var installation: GitHubInstallation?
    public var sender: GitHubAccount?

    enum CodingKeys: String, CodingKey {
        case action, comment, pullRequest = "pull_request", repository, installation, sender
    }
}

/// `installation` event payload (the App installed, uninstalled, suspended, …).
public struct InstallationPayload: Sendable, Equatable, Decodable {
    public var action: String
    public var installation: GitHubInstallation
}

/// `ping` event payload (sent when a hook is created).
public struct PingPayload: Sendable, Equatable, Decodable {
    public var zen: String?
    public var hookID: Int64?

    enum CodingKeys: String, CodingKey { case zen, hookID = "hook_id" }
}

/// A parsed webhook delivery, by `X-GitHub-Event`.
public enum WebhookEvent: Sendable, Equatable {
    case ping(PingPayload)
    case issues(IssuesPayload)
    case issueComment(IssueCommentPayload)
    case pullRequestReview(PullRequestReviewPayload)
    case pullRequestReviewComment(PullRequestReviewCommentPayload)
    case pullRequest(PullRequestPayload)
    case installation(InstallationPayload)
    /// Any other event: only its name and `action` (if any) are kept.
    case other(event: String, action: String?)

    /// The event names parsed into typed payloads.
    public static let handledEvents: Set<String> = [
        "ping", "issues", "issue_comment", "pull_request_review", "pull_request_review_comment", "pull_request",
        "installation",
    ]

    /// Parses `body` as the payload of event `name`.
    /// Throws `.invalidJSON` when the body is not a JSON object, `.invalidPayload` when a
    /// handled event lacks a field routing needs (or has it with the wrong type).
    public static func parse(name: String, body: Data) throws(WebhookIntakeError) -> WebhookEvent {
        switch name {
        case "ping": return .ping(try decode(PingPayload.self, body))
        case "issues": return .issues(try decode(IssuesPayload.self, body))
        case "issue_comment": return .issueComment(try decode(IssueCommentPayload.self, body))
        case "pull_request_review": return .pullRequestReview(try decode(PullRequestReviewPayload.self, body))
        case "pull_request_review_comment":
            return .pullRequestReviewComment(try decode(PullRequestReviewCommentPayload.self, body))
        case "pull_request": return .pullRequest(try decode(PullRequestPayload.self, body))
        case "installation": return .installation(try decode(InstallationPayload.self, body))
        default:
            struct Envelope: Decodable { var action: String? }
            return .other(event: name, action: try decode(Envelope.self, body).action)
        }
    }

    /// `event.action` ("issues.labeled"), or just the event name when there is no action.
    public var qualifiedName: String {
        func q(_ e: String, _ a: String?) -> String { a.map { "\(e).\($0)" } ?? e }
        switch self {
        case .ping: return "ping"
        case .issues(let p): return q("issues", p.action)
        case .issueComment(let p): return q("issue_comment", p.action)
        case .pullRequestReview(let p): return q("pull_request_review", p.action)
        case .pullRequestReviewComment(let p): return q("pull_request_review_comment", p.action)
        case .pullRequest(let p): return q("pull_request", p.action)
        case .installation(let p): return q("installation", p.action)
        case .other(let e, let a): return q(e, a)
        }
    }

    /// The installation the delivery came from (nil for ping, or when the payload has none).
    public var installationID: Int64? {
        switch self {
        case .ping, .other: return nil
        case .issues(let p): return p.installation?.id
        case .issueComment(let p): return p.installation?.id
        case .pullRequestReview(let p): return p.installation?.id
        case .pullRequestReviewComment(let p): return p.installation?.id
        case .pullRequest(let p): return p.installation?.id
        case .installation(let p): return p.installation.id
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws(WebhookIntakeError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch let error as DecodingError {
            throw classify(error)
        } catch {
            throw .invalidJSON("body is not valid JSON")
        }
    }

    /// Malformed JSON or a non-object top level → invalidJSON; a missing or mistyped
    /// field inside an object → invalidPayload (with the field's path, never its value).
    private static func classify(_ error: DecodingError) -> WebhookIntakeError {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
            return .invalidJSON("body is not valid JSON")
        case .typeMismatch(_, let ctx) where ctx.codingPath.isEmpty:
            return .invalidJSON("body is not a JSON object")
        case .keyNotFound(let key, let ctx):
            return .invalidPayload("missing field \(path(ctx.codingPath + [key]))")
        case .valueNotFound(_, let ctx):
            return .invalidPayload("null field \(path(ctx.codingPath))")
        case .typeMismatch(_, let ctx), .dataCorrupted(let ctx):
            return .invalidPayload("wrong type for field \(path(ctx.codingPath))")
        @unknown default:
            return .invalidPayload("payload does not match the event")
        }
    }
}
