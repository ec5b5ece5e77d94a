import Foundation
import Supervisor

/// The text of a published review: its body, its inline comments, and the Check Run's
/// output. Everything the runtime wrote passes `StatusComment.untrusted` (redacted, no
/// HTML comment openers), so it cannot forge the markers the publisher relies on.
enum ReviewText {
    /// Marks the one review a task posts, so a repeated publication finds it.
    static func reviewMarker(taskID: String) -> String { "<!-- coven-review:\(StatusComment.safeID(taskID)) -->" }

    static func severityTag(_ s: ReviewReport.Severity) -> String { "**\(s.rawValue)**" }

    static func comment(_ f: ReviewReport.Finding) -> String {
        var parts = ["\(severityTag(f.severity)) · \(StatusComment.untrusted(f.title, limit: 300))", "",
                     StatusComment.untrusted(f.body, limit: 10_000)]
        if let r = f.recommendation?.trimmingCharacters(in: .whitespacesAndNewlines), !r.isEmpty {
            parts += ["", "_Recommendation:_ " + StatusComment.untrusted(r, limit: 5_000)]
        }
        parts += ["", ReviewPlan.marker(f)]
        return parts.joined(separator: "\n")
    }

    static func body(task: TaskSpec, sha: String, result: ResultEnvelope, plan: ReviewPlan, policy: ReviewPolicy) -> String {
        let name = StatusComment.displayName(task.familiar)
        let count = plan.published.count
        var lines = [reviewMarker(taskID: task.id),
                     "**\(name)** reviewed `\(sha.prefix(12))`: " + (count == 0 ? "no findings." :
                        "\(count) finding\(count == 1 ? "" : "s") (\(plan.inline.count) inline).")]
        let summary = result.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        if !summary.isEmpty { lines += ["", StatusComment.untrusted(summary, limit: 10_000)] }
        if count == 0, let why = result.review?.noFindingsReason, !why.isEmpty {
            lines += ["", "_" + StatusComment.untrusted(why, limit: 2_000) + "_"]
        }
        if !plan.inBody.isEmpty {
            lines += ["", "### Findings outside the diff's lines", ""]
            for f in plan.inBody {
                let place = "`" + StatusComment.untrusted(f.file, limit: 300) + (f.line.map { ":\($0)" } ?? "") + "`"
                var entry = "- \(severityTag(f.severity)) \(place) — **\(StatusComment.untrusted(f.title, limit: 300))**: "
                    + StatusComment.untrusted(f.body, limit: 5_000).replacingOccurrences(of: "\n", with: " ")
                if let r = f.recommendation?.trimmingCharacters(in: .whitespacesAndNewlines), !r.isEmpty {
                    entry += " _Recommendation:_ " + StatusComment.untrusted(r, limit: 2_000).replacingOccurrences(of: "\n", with: " ")
                }
                lines.append(entry + " " + ReviewPlan.marker(f))
            }
        }
        if let gates = gatesLine(plan, policy) { lines += ["", "<sub>\(gates)</sub>"] }
        lines += ["", "<sub>coven-supervisor · task `\(StatusComment.safeID(task.id))`</sub>"]
        return GitHubClient.cut(lines.joined(separator: "\n"), to: 60_000)
    }

    /// What the gates held back, or nil when nothing was.
    static func gatesLine(_ plan: ReviewPlan, _ policy: ReviewPolicy) -> String? {
        var parts: [String] = []
        if plan.withheldOutsideFiles > 0 { parts.append("\(plan.withheldOutsideFiles) withheld: outside the pull request's files") }
        if plan.withheldBelowSeverity > 0 {
            parts.append("\(plan.withheldBelowSeverity) withheld: below min_severity \(policy.minSeverity.rawValue)")
        }
        if plan.skippedDuplicates > 0 { parts.append("\(plan.skippedDuplicates) skipped: already reported") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// The Check Run output of a finished review: evidence, tests run, limitations, what
    /// was published and withheld; annotations for published findings with a line (all of
    /// them: the caller sends them in batches of at most 50).
    static func checkRunOutput(result: ResultEnvelope, review: ReviewReport, plan: ReviewPlan, policy: ReviewPolicy,
                               posted: String?, note: String?) -> GitHubClient.CheckRunOutput {
        let count = plan.published.count
        let title = count == 0 ? "Review: no findings" : "Review: \(count) finding\(count == 1 ? "" : "s")"
        var parts: [String] = []
        parts.append("**Evidence:** \(review.evidenceStatus.rawValue) · \(review.reviewedFiles.count) file(s) reviewed, "
                     + "\(review.supportingFiles.count) supporting")
        parts.append("**Published:** " + (posted ?? "nothing") + " — \(count) finding(s): \(plan.inline.count) inline, "
                     + "\(plan.inBody.count) in the review body.")
        parts.append("**Withheld:** \(plan.withheldOutsideFiles) outside the pull request's files, "
                     + "\(plan.withheldBelowSeverity) below min_severity \(policy.minSeverity.rawValue); "
                     + "\(plan.skippedDuplicates) skipped as already reported.")
        if review.testsRun.isEmpty {
            parts.append("**Tests run:** none reported.")
        } else {
            var table = ["**Tests run:**", "", "| command | status | output |", "| --- | --- | --- |"]
            for t in review.testsRun.prefix(50) {
                table.append("| `\(cell(t.command))` | \(t.status.rawValue) | \(cell(t.outputSummary ?? "")) |")
            }
            parts.append(table.joined(separator: "\n"))
        }
        if review.limitations.isEmpty {
            parts.append("**Limitations:** none reported.")
        } else {
            parts.append((["**Limitations:**"] + review.limitations.prefix(50).map { "- " + StatusComment.untrusted($0, limit: 1_000) })
                .joined(separator: "\n"))
        }
        let summary = result.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        if !summary.isEmpty { parts.append(StatusComment.untrusted(summary, limit: 10_000)) }
        if let note, !note.isEmpty { parts.append("Note: " + StatusComment.untrusted(note, limit: 2_000)) }
        let annotations = plan.published.compactMap { f -> GitHubClient.CheckRunAnnotation? in
            guard let line = f.line else { return nil }
            return GitHubClient.CheckRunAnnotation(path: f.file, startLine: line, endLine: line, level: level(f.severity),
                                                   title: StatusComment.untrusted(f.title, limit: 250),
                                                   message: StatusComment.untrusted(f.body, limit: 10_000))
        }
        return GitHubClient.CheckRunOutput(title: title, summary: parts.joined(separator: "\n\n"), annotations: annotations)
    }

    static func supersededOutput(by sha: String) -> GitHubClient.CheckRunOutput {
        GitHubClient.CheckRunOutput(title: "Superseded",
                                    summary: "superseded by \(sha.prefix(40)): a newer push is reviewed instead; "
                                        + "this review's findings are withheld.")
    }

    static func level(_ s: ReviewReport.Severity) -> GitHubClient.CheckRunAnnotation.Level {
        switch s {
        case .critical, .high: return .failure
        case .medium: return .warning
        case .low, .info: return .notice
        }
    }

    private static func cell(_ s: String) -> String {
        StatusComment.untrusted(s, limit: 200).replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "`", with: "'")
    }

    /// `output` split so no request carries more than GitHub's 50 annotations: the first
    /// goes with the conclusion, the others follow as updates (GitHub appends them).
    static func batches(_ output: GitHubClient.CheckRunOutput) -> [GitHubClient.CheckRunOutput] {
        let n = GitHubClient.CheckRunOutput.maxAnnotationsPerRequest
        guard output.annotations.count > n else { return [output] }
        return stride(from: 0, to: output.annotations.count, by: n).map { start in
            var o = output
            o.annotations = Array(output.annotations[start..<min(start + n, output.annotations.count)])
            return o
        }
    }
}
