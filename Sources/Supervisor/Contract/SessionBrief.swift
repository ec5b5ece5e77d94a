import Foundation

/// The headless session brief (contract v1): the tokenless read-context the runtime
/// gets via `--context`. It encodes exactly the keys of
/// shared/contracts/v1/session-brief.schema.json and nothing else: there is no field
/// that could hold a token, and task fields the contract does not know (a review
/// comment's path and line) are left out.
public struct SessionBrief: Sendable, Equatable, Codable {
    public var contractVersion: String
    public var trigger: Trigger
    public var repo: RepoRef
    public var task: BriefTask
    public var familiar: FamiliarRef
    public var workspace: Workspace

    public struct Workspace: Sendable, Equatable, Codable {
        public var root: String
        public init(root: String) { self.root = root }
    }

    enum CodingKeys: String, CodingKey {
        case contractVersion = "contract_version", trigger, repo, task, familiar, workspace
    }

    /// Builds the brief for `spec`, with the workspace at `workspaceRoot` (a path inside
    /// the sandbox, e.g. "/workspace").
    ///
    /// Refuses a clone URL containing '@' (credentials, or something that could be
    /// mistaken for them), negative issue/PR numbers and a relative workspace root.
    public init(task spec: TaskSpec, workspaceRoot: String) throws(BriefError) {
        if spec.repo.cloneURL.contains("@") { throw .credentialsInCloneURL }
        guard workspaceRoot.hasPrefix("/") else { throw .invalidWorkspaceRoot }
        let task = BriefTask(spec.kind)
        if task.number < 0 { throw .negativeNumber(field: task.numberField) }
        self.contractVersion = ContractSchemas.version
        self.trigger = spec.trigger
        self.repo = spec.repo
        self.task = task
        self.familiar = spec.familiar
        self.workspace = Workspace(root: workspaceRoot)
    }

    /// The brief as JSON (sorted keys, no escaped slashes), checked against the
    /// embedded v1 schema before it is returned.
    public func jsonData() throws(BriefError) -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try enc.encode(self) } catch { throw .encoding(String(describing: error)) }
        let errors = ContractSchemas.sessionBriefValidator.validate(data)
        if !errors.isEmpty { throw .schemaViolation(errors) }
        return data
    }
}

/// Why a brief could not be built. Messages never contain the offending value (a clone
/// URL with '@' may carry a token).
public enum BriefError: Error, Sendable, Equatable, CustomStringConvertible {
    case credentialsInCloneURL
    case invalidWorkspaceRoot
    case negativeNumber(field: String)
    case encoding(String)
    case schemaViolation([String])

    public var description: String {
        switch self {
        case .credentialsInCloneURL: return "refusing to build the session brief: the clone URL contains '@' (credentials must never reach the sandbox)"
        case .invalidWorkspaceRoot: return "the workspace root must be an absolute path"
        case .negativeNumber(let f): return "\(f) must not be negative"
        case .encoding(let e): return "could not encode the session brief: \(e)"
        case .schemaViolation(let errs): return "session brief does not match the v1 schema: \(errs.joined(separator: "; "))"
        }
    }
}

/// The brief's `task` object: one of the contract's three kinds with exactly its keys.
public enum BriefTask: Sendable, Equatable, Codable {
    case fixIssue(issueNumber: Int, issueTitle: String, issueBody: String)
    case addressReviewComment(prNumber: Int, commentBody: String, diffHunk: String?)
    case respondToMention(issueNumber: Int, commentBody: String)

    /// Drops what the contract has no key for (a review comment's path and line).
    public init(_ kind: TaskKind) {
        switch kind {
        case .fixIssue(let n, let title, let body):
            self = .fixIssue(issueNumber: n, issueTitle: title, issueBody: body)
        case .addressReviewComment(let n, let body, let hunk, _, _):
            self = .addressReviewComment(prNumber: n, commentBody: body, diffHunk: hunk)
        case .respondToMention(let n, let body):
            self = .respondToMention(issueNumber: n, commentBody: body)
        }
    }

    public var kind: String {
        switch self {
        case .fixIssue: return "fix_issue"
        case .addressReviewComment: return "address_review_comment"
        case .respondToMention: return "respond_to_mention"
        }
    }

    var number: Int {
        switch self {
        case .fixIssue(let n, _, _), .addressReviewComment(let n, _, _), .respondToMention(let n, _): return n
        }
    }

    var numberField: String {
        if case .addressReviewComment = self { return "pr_number" }
        return "issue_number"
    }

    enum CodingKeys: String, CodingKey {
        case kind, issueNumber = "issue_number", issueTitle = "issue_title", issueBody = "issue_body"
        case prNumber = "pr_number", commentBody = "comment_body", diffHunk = "diff_hunk"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "fix_issue":
            self = .fixIssue(issueNumber: try c.decode(Int.self, forKey: .issueNumber),
                             issueTitle: try c.decode(String.self, forKey: .issueTitle),
                             issueBody: try c.decode(String.self, forKey: .issueBody))
        case "address_review_comment":
            self = .addressReviewComment(prNumber: try c.decode(Int.self, forKey: .prNumber),
                                         commentBody: try c.decode(String.self, forKey: .commentBody),
                                         diffHunk: try c.decodeIfPresent(String.self, forKey: .diffHunk))
        case "respond_to_mention":
            self = .respondToMention(issueNumber: try c.decode(Int.self, forKey: .issueNumber),
                                     commentBody: try c.decode(String.self, forKey: .commentBody))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "unknown task kind")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case .fixIssue(let n, let title, let body):
            try c.encode(n, forKey: .issueNumber)
            try c.encode(title, forKey: .issueTitle)
            try c.encode(body, forKey: .issueBody)
        case .addressReviewComment(let n, let body, let hunk):
            try c.encode(n, forKey: .prNumber)
            try c.encode(body, forKey: .commentBody)
            try c.encodeIfPresent(hunk, forKey: .diffHunk)
        case .respondToMention(let n, let body):
            try c.encode(n, forKey: .issueNumber)
            try c.encode(body, forKey: .commentBody)
        }
    }
}
