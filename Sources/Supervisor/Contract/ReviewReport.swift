import Foundation

/// The v2 result's `review` object: what the runtime looked at and what it found.
/// Required in every v2 result (mode `none` with evidence `not_applicable` for work that
/// is not a review).
public struct ReviewReport: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        case none
        case pullRequest = "pull_request"
        case reviewComment = "review_comment"
    }

    public enum EvidenceStatus: String, Sendable, Codable, CaseIterable {
        case notApplicable = "not_applicable"
        case complete, partial, missing
    }

    /// Ordered: a threshold compares with `>=`.
    public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
        case info, low, medium, high, critical

        var rank: Int { Self.allCases.firstIndex(of: self)! }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    public struct Finding: Sendable, Equatable, Codable {
        public var severity: Severity
        public var file: String
        /// A line of the file at the reviewed commit; nil for a finding about the file as a whole.
        public var line: Int?
        public var title: String
        public var body: String
        public var recommendation: String?

        public init(severity: Severity, file: String, line: Int?, title: String, body: String, recommendation: String? = nil) {
            self.severity = severity; self.file = file; self.line = line; self.title = title; self.body = body
            self.recommendation = recommendation
        }

        enum CodingKeys: String, CodingKey { case severity, file, line, title, body, recommendation }

        // Nullable keys are written as null: the schema requires them present.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(severity, forKey: .severity); try c.encode(file, forKey: .file)
            try c.encode(line, forKey: .line); try c.encode(title, forKey: .title); try c.encode(body, forKey: .body)
            try c.encode(recommendation, forKey: .recommendation)
        }
    }

    public struct TestRun: Sendable, Equatable, Codable {
        public enum Status: String, Sendable, Codable, CaseIterable {
            case passed, failed
            case notRun = "not_run"
            case unknown
        }
        public var command: String
        public var status: Status
        public var outputSummary: String?

        public init(command: String, status: Status, outputSummary: String? = nil) {
            self.command = command; self.status = status; self.outputSummary = outputSummary
        }

        enum CodingKeys: String, CodingKey { case command, status, outputSummary = "output_summary" }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(command, forKey: .command); try c.encode(status, forKey: .status)
            try c.encode(outputSummary, forKey: .outputSummary)
        }
    }

    public var mode: Mode
    public var evidenceStatus: EvidenceStatus
    public var reviewedFiles: [String]
    public var supportingFiles: [String]
    public var findings: [Finding]
    public var testsRun: [TestRun]
    public var noFindingsReason: String?
    public var limitations: [String]

    public init(mode: Mode, evidenceStatus: EvidenceStatus, reviewedFiles: [String] = [], supportingFiles: [String] = [],
                findings: [Finding] = [], testsRun: [TestRun] = [], noFindingsReason: String? = nil,
                limitations: [String] = []) {
        self.mode = mode; self.evidenceStatus = evidenceStatus; self.reviewedFiles = reviewedFiles
        self.supportingFiles = supportingFiles; self.findings = findings; self.testsRun = testsRun
        self.noFindingsReason = noFindingsReason; self.limitations = limitations
    }

    /// What a v2 runtime reports for work that is not a review.
    public static let notApplicable = ReviewReport(mode: .none, evidenceStatus: .notApplicable)

    enum CodingKeys: String, CodingKey {
        case mode, evidenceStatus = "evidence_status", reviewedFiles = "reviewed_files"
        case supportingFiles = "supporting_files", findings, testsRun = "tests_run"
        case noFindingsReason = "no_findings_reason", limitations
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode); try c.encode(evidenceStatus, forKey: .evidenceStatus)
        try c.encode(reviewedFiles, forKey: .reviewedFiles); try c.encode(supportingFiles, forKey: .supportingFiles)
        try c.encode(findings, forKey: .findings); try c.encode(testsRun, forKey: .testsRun)
        try c.encode(noFindingsReason, forKey: .noFindingsReason); try c.encode(limitations, forKey: .limitations)
    }
}
