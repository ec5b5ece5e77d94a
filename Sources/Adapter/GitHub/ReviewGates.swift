import Foundation
import Supervisor

/// What of a runtime's review reaches GitHub, decided before anything is posted:
/// 1. a finding on a file that is not among the PR's files is withheld (the runtime is
///    untrusted: it must not comment on code the PR does not change);
/// 2. a finding below the policy's `min_severity` is withheld;
/// 3. a finding the bot already published on this PR (same file, line and title: its
///    fingerprint marker is in an earlier review or review comment) is skipped;
/// 4. the rest go inline when their line is in the diff (side RIGHT), else in the body.
/// The event is REQUEST_CHANGES when the policy has a threshold and a finding that passed
/// gates 1 and 2 reaches it (a repeated finding still stands), else COMMENT.
public struct ReviewPlan: Sendable, Equatable {
    public struct Inline: Sendable, Equatable {
        public var finding: ReviewReport.Finding
        public var path: String
        public var line: Int
    }
    public var inline: [Inline] = []
    /// Published in the review body (no line, or a line outside the diff).
    public var inBody: [ReviewReport.Finding] = []
    public var withheldOutsideFiles = 0
    public var withheldBelowSeverity = 0
    public var skippedDuplicates = 0
    public var event: GitHubClient.ReviewEvent = .comment

    /// The findings published, inline and in the body.
    public var published: [ReviewReport.Finding] { inline.map(\.finding) + inBody }

    public static func make(review: ReviewReport, files: [GitHubClient.PullRequestFile], policy: ReviewPolicy,
                            earlierFingerprints: Set<String>) -> ReviewPlan {
        var plan = ReviewPlan()
        let byName = Dictionary(files.map { ($0.filename, $0) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for var finding in review.findings {
            finding.file = normalizedPath(finding.file)
            guard let file = byName[finding.file] else { plan.withheldOutsideFiles += 1; continue }
            guard finding.severity >= policy.minSeverity else { plan.withheldBelowSeverity += 1; continue }
            if let threshold = policy.requestChangesAt, finding.severity >= threshold { plan.event = .requestChanges }
            let print = fingerprint(finding)
            guard !earlierFingerprints.contains(print), seen.insert(print).inserted else {
                plan.skippedDuplicates += 1
                continue
            }
            if let line = finding.line, let patch = file.patch, DiffLines(patch: patch).right.contains(line) {
                plan.inline.append(Inline(finding: finding, path: file.filename, line: line))
            } else {
                plan.inBody.append(finding)
            }
        }
        return plan
    }

    /// A runtime may name files as `/workspace/a.swift` or `./a.swift`; GitHub's are relative.
    static func normalizedPath(_ path: String) -> String {
        var p = path.trimmingCharacters(in: .whitespaces)
        if p.hasPrefix("/workspace/") { p.removeFirst("/workspace/".count) }
        while p.hasPrefix("./") { p.removeFirst(2) }
        return p
    }

    /// Stable across runs: FNV-1a (64 bit) of file, line and title.
    public static func fingerprint(_ f: ReviewReport.Finding) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in "\(f.file)\u{0}\(f.line.map(String.init) ?? "-")\u{0}\(f.title.lowercased())".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The hidden marker a published finding carries.
    public static func marker(_ f: ReviewReport.Finding) -> String { "<!-- coven-finding:\(fingerprint(f)) -->" }

    /// The fingerprints in a body the bot wrote before.
    public static func fingerprints(in body: String) -> Set<String> {
        var out = Set<String>()
        var rest = Substring(body)
        let open = "<!-- coven-finding:"
        while let r = rest.range(of: open) {
            let tail = rest[r.upperBound...]
            let print = tail.prefix(16)
            if print.count == 16, print.allSatisfy(\.isHexDigit) { out.insert(String(print)) }
            rest = tail
        }
        return out
    }
}
