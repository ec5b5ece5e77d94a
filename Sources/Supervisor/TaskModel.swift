import Foundation

/// The repository a task works on. `cloneURL` never carries credentials.
public struct RepoRef: Sendable, Codable, Equatable {
    public var owner: String
    public var name: String
    public var cloneURL: String
    public var defaultBranch: String

    public init(owner: String, name: String, cloneURL: String, defaultBranch: String) {
        self.owner = owner; self.name = name; self.cloneURL = cloneURL; self.defaultBranch = defaultBranch
    }
    enum CodingKeys: String, CodingKey {
        case owner, name, cloneURL = "clone_url", defaultBranch = "default_branch"
    }
}

/// The bot identity a task is routed to.
public struct FamiliarRef: Sendable, Codable, Equatable {
    public var id: String
    public var displayName: String
    public var model: String?
    public var skills: [String]

    public init(id: String, displayName: String, model: String? = nil, skills: [String] = []) {
        self.id = id; self.displayName = displayName; self.model = model; self.skills = skills
    }
    enum CodingKeys: String, CodingKey {
        case id, displayName = "display_name", model, skills
    }
}

/// What started the task, in the headless contract's words.
public enum Trigger: String, Sendable, Codable, Equatable {
    case issueAssigned = "issue_assigned"
    case prReviewComment = "pr_review_comment"
    case issueMention = "issue_mention"
}

/// What the agent is asked to do (the contract's `task` object).
public enum TaskKind: Sendable, Equatable {
    case fixIssue(issueNumber: Int, title: String, body: String)
    case addressReviewComment(prNumber: Int, commentBody: String, diffHunk: String?, path: String?, line: Int?)
    case respondToMention(issueNumber: Int, commentBody: String)
    /// Review a pull request (contract v2 only): the workspace holds its head, with the
    /// base fetched, and the result's `review` is published as one PR review.
    case reviewPullRequest(prNumber: Int)

    /// "fix_issue", "address_review_comment", "respond_to_mention", "review_pull_request".
    public var name: String {
        switch self {
        case .fixIssue: return "fix_issue"
        case .addressReviewComment: return "address_review_comment"
        case .respondToMention: return "respond_to_mention"
        case .reviewPullRequest: return "review_pull_request"
        }
    }

    /// The pull request number of a task on one (nil for issue tasks).
    public var pullRequestNumber: Int? {
        switch self {
        case .addressReviewComment(let n, _, _, _, _), .reviewPullRequest(let n): return n
        case .fixIssue, .respondToMention: return nil
        }
    }

    /// Whether the task is a pull-request review.
    public var isReview: Bool {
        if case .reviewPullRequest = self { return true }
        return false
    }

    /// The issue or PR number the task targets (where its status comment goes).
    public var targetNumber: Int {
        switch self {
        case .fixIssue(let n, _, _): return n
        case .addressReviewComment(let n, _, _, _, _): return n
        case .respondToMention(let n, _): return n
        case .reviewPullRequest(let n): return n
        }
    }
}

extension TaskKind: Codable {
    enum CodingKeys: String, CodingKey {
        case kind, issueNumber = "issue_number", issueTitle = "issue_title", issueBody = "issue_body"
        case prNumber = "pr_number", commentBody = "comment_body", diffHunk = "diff_hunk", path, line
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "fix_issue":
            self = .fixIssue(issueNumber: try c.decode(Int.self, forKey: .issueNumber),
                             title: try c.decode(String.self, forKey: .issueTitle),
                             body: try c.decodeIfPresent(String.self, forKey: .issueBody) ?? "")
        case "address_review_comment":
            self = .addressReviewComment(prNumber: try c.decode(Int.self, forKey: .prNumber),
                                         commentBody: try c.decode(String.self, forKey: .commentBody),
                                         diffHunk: try c.decodeIfPresent(String.self, forKey: .diffHunk),
                                         path: try c.decodeIfPresent(String.self, forKey: .path),
                                         line: try c.decodeIfPresent(Int.self, forKey: .line))
        case "respond_to_mention":
            self = .respondToMention(issueNumber: try c.decode(Int.self, forKey: .issueNumber),
                                     commentBody: try c.decode(String.self, forKey: .commentBody))
        case "review_pull_request":
            self = .reviewPullRequest(prNumber: try c.decode(Int.self, forKey: .prNumber))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                debugDescription: "unknown task kind '\(kind)' (expected fix_issue, address_review_comment, respond_to_mention or review_pull_request)")
        }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .kind)
        switch self {
        case .fixIssue(let n, let t, let b):
            try c.encode(n, forKey: .issueNumber); try c.encode(t, forKey: .issueTitle); try c.encode(b, forKey: .issueBody)
        case .addressReviewComment(let n, let body, let hunk, let path, let line):
            try c.encode(n, forKey: .prNumber); try c.encode(body, forKey: .commentBody)
            try c.encodeIfPresent(hunk, forKey: .diffHunk); try c.encodeIfPresent(path, forKey: .path)
            try c.encodeIfPresent(line, forKey: .line)
        case .respondToMention(let n, let body):
            try c.encode(n, forKey: .issueNumber); try c.encode(body, forKey: .commentBody)
        case .reviewPullRequest(let n):
            try c.encode(n, forKey: .prNumber)
        }
    }
}

/// Where a task came from. JSON: `"api"` or `{"webhook": "<delivery id>"}`.
public enum TaskSource: Sendable, Equatable, Codable {
    /// A GitHub webhook delivery (X-GitHub-Delivery).
    case webhook(deliveryID: String)
    /// The task API or `run-task`.
    case api

    enum CodingKeys: String, CodingKey { case webhook }

    public init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let s = try? single.decode(String.self) {
            guard s == "api" else {
                throw DecodingError.dataCorruptedError(in: single, debugDescription: "unknown task source '\(s)' (expected \"api\" or {\"webhook\": ID})")
            }
            self = .api
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self = .webhook(deliveryID: try c.decode(String.self, forKey: .webhook))
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .api:
            var c = encoder.singleValueContainer()
            try c.encode("api")
        case .webhook(let id):
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .webhook)
        }
    }
}

/// Everything needed to run a task; immutable once queued.
public struct TaskSpec: Sendable, Codable, Equatable {
    public var id: String
    public var source: TaskSource
    /// The GitHub App installation (nil in local mode).
    public var installationID: Int64?
    public var repo: RepoRef
    public var trigger: Trigger
    public var kind: TaskKind
    public var familiar: FamiliarRef
    /// For PR tasks: the PR head ref to check out (and its repo's clone URL when a fork).
    public var headRef: String?
    /// The commit SHA the Check Run is attached to, when known. For a review: the commit
    /// reviewed (nil: the PR's head when the attempt runs).
    public var headSHA: String?
    /// The headless contract the familiar speaks: 1 or 2 (`familiars[].contract_version`).
    public var contractVersion: Int

    public init(id: String, source: TaskSource = .api, installationID: Int64? = nil, repo: RepoRef,
                trigger: Trigger, kind: TaskKind, familiar: FamiliarRef,
                headRef: String? = nil, headSHA: String? = nil, contractVersion: Int = 1) {
        self.id = id; self.source = source; self.installationID = installationID; self.repo = repo
        self.trigger = trigger; self.kind = kind; self.familiar = familiar
        self.headRef = headRef; self.headSHA = headSHA; self.contractVersion = contractVersion
    }

    enum CodingKeys: String, CodingKey {
        case id, source, installationID = "installation_id", repo, trigger, kind = "task", familiar
        case headRef = "head_ref", headSHA = "head_sha", contractVersion = "contract_version"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(source, forKey: .source)
        try c.encodeIfPresent(installationID, forKey: .installationID)
        try c.encode(repo, forKey: .repo); try c.encode(trigger, forKey: .trigger); try c.encode(kind, forKey: .kind)
        try c.encode(familiar, forKey: .familiar)
        try c.encodeIfPresent(headRef, forKey: .headRef); try c.encodeIfPresent(headSHA, forKey: .headSHA)
        // Left out for v1, so tasks stored before v2 existed read back equal.
        if contractVersion != 1 { try c.encode(contractVersion, forKey: .contractVersion) }
    }

    /// Decodes a task; `id` (generated), `source` ("api") and `trigger` (from the
    /// task kind) may be left out, so a hand-written task file stays short.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id) ?? TaskSpec.newID()
        source = try c.decodeIfPresent(TaskSource.self, forKey: .source) ?? .api
        installationID = try c.decodeIfPresent(Int64.self, forKey: .installationID)
        repo = try c.decode(RepoRef.self, forKey: .repo)
        kind = try c.decode(TaskKind.self, forKey: .kind)
        if let t = try c.decodeIfPresent(Trigger.self, forKey: .trigger) {
            trigger = t
        } else {
            switch kind {
            case .fixIssue: trigger = .issueAssigned
            case .addressReviewComment: trigger = .prReviewComment
            case .respondToMention: trigger = .issueMention
            case .reviewPullRequest: trigger = .prReviewComment
            }
        }
        familiar = try c.decode(FamiliarRef.self, forKey: .familiar)
        headRef = try c.decodeIfPresent(String.self, forKey: .headRef)
        headSHA = try c.decodeIfPresent(String.self, forKey: .headSHA)
        contractVersion = try c.decodeIfPresent(Int.self, forKey: .contractVersion) ?? 1
    }

    /// "t_" + 16 random hex digits.
    public static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return "t_" + String(format: "%016llx", g.next() as UInt64)
    }
}

/// The lifecycle state of a task.
public enum TaskState: String, Sendable, Codable, Equatable, CaseIterable {
    case queued, running, completed, failed, cancelled
}
