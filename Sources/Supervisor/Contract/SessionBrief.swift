import Foundation

/// The headless session brief: the tokenless read-context the runtime gets via
/// `--context`, in the contract the familiar speaks (`TaskSpec.contractVersion`). It
/// encodes exactly the keys of shared/contracts/v{1,2}/session-brief.schema.json and
/// nothing else: there is no field that could hold a token, and task fields the contract
/// does not know (a review comment's path and line) are left out.
///
/// v2 adds `review_context` (the PR's files) and `audit_instruction`, set for a review
/// (`review_pull_request`), which the v2 schema has no task kind for: it is briefed as
/// `address_review_comment` on the PR with the instruction as its comment body.
public struct SessionBrief: Sendable, Equatable, Codable {
    public var contractVersion: String
    public var trigger: Trigger
    public var repo: RepoRef
    public var task: BriefTask
    public var familiar: FamiliarRef
    public var workspace: Workspace
    /// v2, reviews only: what to do with the files in `reviewContext`.
    public var auditInstruction: String?
    /// v2, reviews only: the pull request's changed files.
    public var reviewContext: ReviewContext?

    public struct Workspace: Sendable, Equatable, Codable {
        public var root: String
        public init(root: String) { self.root = root }
    }

    public struct ReviewContext: Sendable, Equatable, Codable {
        public struct File: Sendable, Equatable, Codable {
            public var filename: String
            public init(filename: String) { self.filename = filename }
        }
        /// Always "pull_request" here.
        public var kind: String
        public var files: [File]
        public init(files: [String]) { kind = "pull_request"; self.files = files.map(File.init) }
    }

    enum CodingKeys: String, CodingKey {
        case contractVersion = "contract_version", trigger, repo, task, familiar, workspace
        case auditInstruction = "audit_instruction", reviewContext = "review_context"
    }

    /// Builds the brief for `spec`, with the workspace at `workspaceRoot` (a path inside
    /// the sandbox, e.g. "/workspace"). `reviewFiles` are the PR's changed files, for a
    /// review (`GET /repos/{o}/{r}/pulls/{n}/files`).
    ///
    /// Refuses a clone URL containing '@' (credentials, or something that could be
    /// mistaken for them), negative issue/PR numbers, a relative workspace root, an
    /// unknown contract version, and a review for a v1 familiar.
    public init(task spec: TaskSpec, workspaceRoot: String, reviewFiles: [String] = []) throws(BriefError) {
        if spec.repo.cloneURL.contains("@") { throw .credentialsInCloneURL }
        guard workspaceRoot.hasPrefix("/") else { throw .invalidWorkspaceRoot }
        guard ContractSchemas.supportedVersions.contains(spec.contractVersion) else {
            throw .unsupportedContractVersion(spec.contractVersion)
        }
        if spec.kind.isReview && spec.contractVersion < 2 { throw .reviewNeedsContractV2 }
        let task = BriefTask(spec.kind, headSHA: spec.headSHA)
        if task.number < 0 { throw .negativeNumber(field: task.numberField) }
        self.contractVersion = String(spec.contractVersion)
        self.trigger = spec.trigger
        self.repo = spec.repo
        self.task = task
        self.familiar = spec.familiar
        self.workspace = Workspace(root: workspaceRoot)
        if case .reviewPullRequest(let n) = spec.kind {
            self.reviewContext = ReviewContext(files: reviewFiles)
            self.auditInstruction = Self.auditInstruction(pr: n)
        }
    }

    /// What a review asks of the runtime: the result's `review` is published as one PR
    /// review, and only findings on the PR's files reach it.
    public static func auditInstruction(pr: Int) -> String {
        "Review pull request #\(pr). /workspace holds its head commit; its base branch is fetched, named by "
            + "$COVEN_REVIEW_BASE (`git diff \"origin/$COVEN_REVIEW_BASE...HEAD\"` shows the change). Report findings "
            + "in the result's `review` (mode \"pull_request\"), each on a file of review_context.files with its line "
            + "at the head commit; findings elsewhere are not published. Change nothing and push nothing."
    }

    /// Checks the brief against the embedded schema of its contract version, without
    /// writing it out (what accepting a task needs: `jsonData` writes it for an attempt).
    public func validate() throws(BriefError) {
        let value: JSONValue
        do { value = try JSONValueEncoder().encode(self) } catch { throw .encoding(String(describing: error)) }
        let errors = ContractSchemas.briefValidator(version: Int(contractVersion) ?? 1).validate(value: value)
        if !errors.isEmpty { throw .schemaViolation(version: contractVersion, errors) }
    }

    /// The brief as JSON (sorted keys, no escaped slashes), checked against the
    /// embedded schema of its contract version before it is returned.
    public func jsonData() throws(BriefError) -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try enc.encode(self) } catch { throw .encoding(String(describing: error)) }
        let errors = ContractSchemas.briefValidator(version: Int(contractVersion) ?? 1).validate(data)
        if !errors.isEmpty { throw .schemaViolation(version: contractVersion, errors) }
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
    case schemaViolation(version: String, [String])
    case unsupportedContractVersion(Int)
    /// A review for a familiar that speaks contract v1, which has no review.
    case reviewNeedsContractV2

    public var description: String {
        switch self {
        case .credentialsInCloneURL: return "refusing to build the session brief: the clone URL contains '@' (credentials must never reach the sandbox)"
        case .invalidWorkspaceRoot: return "the workspace root must be an absolute path"
        case .negativeNumber(let f): return "\(f) must not be negative"
        case .encoding(let e): return "could not encode the session brief: \(e)"
        case .schemaViolation(let v, let errs): return "session brief does not match the v\(v) schema: \(errs.joined(separator: "; "))"
        case .unsupportedContractVersion(let v): return "contract version \(v) is not supported (1 or 2)"
        case .reviewNeedsContractV2: return "a pull-request review needs a familiar that speaks contract v2"
        }
    }
}

/// The brief's `task` object: one of the contract's three kinds with exactly its keys.
public enum BriefTask: Sendable, Equatable, Codable {
    case fixIssue(issueNumber: Int, issueTitle: String, issueBody: String)
    case addressReviewComment(prNumber: Int, commentBody: String, diffHunk: String?)
    case respondToMention(issueNumber: Int, commentBody: String)

    /// Drops what the contract has no key for (a review comment's path and line). A review
    /// is briefed as a comment on the PR asking for one (the schema has no review kind).
    public init(_ kind: TaskKind, headSHA: String? = nil) {
        switch kind {
        case .reviewPullRequest(let n):
            let at = headSHA.map { " at \($0)" } ?? ""
            self = .addressReviewComment(prNumber: n, commentBody: "Review pull request #\(n)\(at).", diffHunk: nil)
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
