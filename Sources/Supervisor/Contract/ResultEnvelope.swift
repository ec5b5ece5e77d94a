import Foundation

/// The result envelope the runtime writes to `--output` (contract v1, or v2 with `review`).
public struct ResultEnvelope: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case success, failure, partial
        case needsInput = "needs_input"
    }

    public enum ExitReason: String, Sendable, Codable, CaseIterable {
        case testFailure = "test_failure"
        case ambiguousSpec = "ambiguous_spec"
        case gitConflict = "git_conflict"
        case infraError = "infra_error"
    }

    public struct Commit: Sendable, Equatable, Codable {
        public var sha: String
        public var message: String
        public init(sha: String, message: String) { self.sha = sha; self.message = message }
    }

    /// "1" or absent (nil) for v1; "2" for v2.
    public var contractVersion: String?
    public var status: Status
    public var branch: String?
    public var commits: [Commit]
    public var filesChanged: [String]
    public var summary: String
    public var prBody: String
    public var exitReason: ExitReason?
    /// v2 only (required there): the review.
    public var review: ReviewReport?

    public init(contractVersion: String? = "1", status: Status, branch: String? = nil, commits: [Commit] = [],
                filesChanged: [String] = [], summary: String, prBody: String = "", exitReason: ExitReason? = nil,
                review: ReviewReport? = nil) {
        self.contractVersion = contractVersion; self.status = status; self.branch = branch; self.commits = commits
        self.filesChanged = filesChanged; self.summary = summary; self.prBody = prBody; self.exitReason = exitReason
        self.review = review
    }

    enum CodingKeys: String, CodingKey {
        case contractVersion = "contract_version", status, branch, commits, filesChanged = "files_changed"
        case summary, prBody = "pr_body", exitReason = "exit_reason", review
    }

    /// True when the result names a branch with at least one commit on it.
    public var hasBranchWithCommits: Bool {
        guard let b = branch, !b.isEmpty else { return false }
        return !commits.isEmpty
    }

    /// Sorted-keys JSON (what the store keeps).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }
}

/// A breach of the headless contract by the runtime: a short stable machine name plus a
/// human message. Messages never quote the result's content.
public struct ContractViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// No file at the result path.
        case noResultFile = "no_result_file"
        /// The result path is a symlink.
        case resultIsSymlink = "result_is_symlink"
        /// A fifo, directory, device or socket instead of a regular file.
        case notRegularFile = "result_not_regular_file"
        /// Bigger than the limit (1 MiB).
        case resultTooLarge = "result_too_large"
        /// Could not be opened or read (permissions, I/O error).
        case unreadable = "result_unreadable"
        /// Not JSON (or JSON with duplicate keys, too deep, invalid UTF-8).
        case malformedJSON = "malformed_json"
        /// contract_version other than the one the familiar speaks ("1" or "2").
        case unsupportedContractVersion = "unsupported_contract_version"
        /// Valid JSON that the result schema (v1 or v2) rejects.
        case schemaViolation = "schema_violation"
    }

    public var kind: Kind
    /// One line for humans.
    public var message: String
    /// The schema errors, for `schemaViolation`.
    public var details: [String]

    public init(_ kind: Kind, _ message: String, details: [String] = []) {
        self.kind = kind; self.message = message; self.details = details
    }

    /// The machine name, e.g. "result_is_symlink".
    public var name: String { kind.rawValue }

    public var description: String {
        details.isEmpty ? "\(name): \(message)" : "\(name): \(message): \(details.prefix(5).joined(separator: "; "))"
    }
}
