import Foundation
import Supervisor

/// The one status comment a task keeps on its issue or pull request, and the text of its
/// Check Run.
///
/// The comment starts with a hidden marker, `<!-- coven-supervisor:task=<task id> -->`,
/// by which it is found again (after a restart too) and edited in place. Text that comes
/// from the agent (summary, PR body, question) is untrusted: token shapes are redacted,
/// HTML comment openers are defused (so it cannot forge another task's marker), and it
/// is cut to a bounded length.
public enum StatusComment {
    /// What the comment reports.
    public enum Phase: Sendable, Equatable {
        case queued
        case running(attempt: Int)
        case finished(TaskOutcome, pullRequest: PullRequestNote?, note: String?)
    }

    /// What became of the task's pull request.
    public struct PullRequestNote: Sendable, Equatable {
        public enum Action: Sendable, Equatable {
            /// A draft PR was opened.
            case opened
            /// An open PR from the same branch already existed.
            case existing
            /// The commits went onto the task's own PR branch.
            case pushedToPullRequest
        }
        public var action: Action
        public var number: Int
        public var url: String?
        public init(action: Action, number: Int, url: String? = nil) {
            self.action = action; self.number = number; self.url = url
        }
    }

    /// GitHub's limit for a comment body is 65536 characters; untrusted parts are kept
    /// well below it.
    static let untrustedLimit = 20_000

    /// The hidden marker for `taskID`.
    public static func marker(taskID: String) -> String {
        "<!-- coven-supervisor:task=\(safeID(taskID)) -->"
    }

    /// True when `body` is the status comment of `taskID`: it starts with its marker.
    public static func isStatusComment(_ body: String, taskID: String) -> Bool {
        body.hasPrefix(marker(taskID: taskID))
    }

    /// The comment body for `task` in `phase`. `coalesced` later triggers of the same work
    /// joined the task instead of starting another: the comment says so, rather than a
    /// second task posting a second comment.
    /// `waitingFor` names the installation limit a queued task waits for.
    public static func render(task: TaskSpec, phase: Phase, coalesced: Int = 0, waitingFor: String? = nil) -> String {
        let name = displayName(task.familiar)
        var lines = [marker(taskID: task.id)]
        switch phase {
        case .queued:
            lines.append("⏳ **\(name)** picked this up; the task is queued.")
            if let waitingFor, !waitingFor.isEmpty {
                lines.append("")
                lines.append("Waiting for the installation's limit: " + untrusted(waitingFor, limit: 500) + ".")
            }
        case .running(let attempt):
            lines.append(attempt <= 1 ? "🔧 **\(name)** is working on it (attempt \(attempt) running)."
                                      : "🔁 **\(name)** is trying again (attempt \(attempt) running).")
        case .finished(let outcome, let pr, let note):
            lines.append(headline(outcome.disposition, name: name))
            if let pr { lines.append(""); lines.append(prLine(pr, commits: outcome.result?.commits.count ?? 0)) }
            if outcome.disposition == .actionRequired, let q = outcome.question, !q.isEmpty {
                lines.append("")
                lines.append(quote(untrusted(q)))
                lines.append("")
                lines.append("Answer in a new comment that mentions the bot to continue.")
            } else if let summary = outcome.result?.summary.trimmingCharacters(in: .whitespacesAndNewlines),
                      !summary.isEmpty {
                lines.append("")
                lines.append(untrusted(summary))
            }
            if outcome.disposition == .failure || outcome.disposition == .cancelled,
               let reason = outcome.reason, !reason.isEmpty {
                lines.append("")
                lines.append("Reason: " + untrusted(reason, limit: 2_000))
            }
            if let note, !note.isEmpty { lines.append(""); lines.append("_\(untrusted(note, limit: 2_000))_") }
        }
        if coalesced > 0 { lines.append(""); lines.append(coalescedLine(coalesced)) }
        lines.append("")
        lines.append("<sub>coven-supervisor · task `\(safeID(task.id))`</sub>")
        return lines.joined(separator: "\n")
    }

    /// The Check Run output when the task ends.
    public static func checkRunOutput(task: TaskSpec, outcome: TaskOutcome, pullRequest: PullRequestNote?,
                                      note: String?) -> GitHubClient.CheckRunOutput {
        let title: String
        switch outcome.disposition {
        case .success: title = "Done"
        case .neutral: title = "Partially done"
        case .failure: title = outcome.timedOut ? "Timed out" : "Failed"
        case .actionRequired: title = "Needs input"
        case .cancelled: title = "Cancelled"
        }
        var parts: [String] = []
        if let pr = pullRequest { parts.append(prLine(pr, commits: outcome.result?.commits.count ?? 0)) }
        if outcome.disposition == .actionRequired, let q = outcome.question, !q.isEmpty {
            parts.append("The agent asks:\n\n" + quote(untrusted(q)))
        } else if let s = outcome.result?.summary.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty {
            parts.append(untrusted(s))
        }
        if outcome.disposition == .failure || outcome.disposition == .cancelled,
           let reason = outcome.reason, !reason.isEmpty {
            parts.append("Reason: " + untrusted(reason, limit: 2_000))
        }
        if let r = outcome.result, !r.filesChanged.isEmpty {
            parts.append("\(r.commits.count) commit(s), \(r.filesChanged.count) file(s) changed.")
        }
        if let note, !note.isEmpty { parts.append("Note: " + untrusted(note, limit: 2_000)) }
        if parts.isEmpty { parts.append(title + ".") }
        return GitHubClient.CheckRunOutput(title: title, summary: parts.joined(separator: "\n\n"))
    }

    /// The Check Run output while the task waits or runs.
    public static func progressOutput(phase: Phase) -> GitHubClient.CheckRunOutput {
        switch phase {
        case .queued: return GitHubClient.CheckRunOutput(title: "Queued", summary: "Waiting for a free slot.")
        case .running(let n): return GitHubClient.CheckRunOutput(title: "Running", summary: "Attempt \(n) is running.")
        case .finished: return GitHubClient.CheckRunOutput(title: "Finished", summary: "Finished.")
        }
    }

    // MARK: - Text

    static func headline(_ d: Disposition, name: String) -> String {
        switch d {
        case .success: return "✅ **\(name)** finished."
        case .neutral: return "⚠️ **\(name)** finished with a partial result."
        case .failure: return "❌ **\(name)** could not complete this task."
        case .actionRequired: return "❓ **\(name)** needs your input to continue:"
        case .cancelled: return "⏹️ **\(name)**'s task was cancelled."
        }
    }

    static func coalescedLine(_ n: Int) -> String {
        n == 1 ? "↪️ 1 more request for the same work was merged into this task instead of starting another."
               : "↪️ \(n) more requests for the same work were merged into this task instead of starting another."
    }

    static func prLine(_ pr: PullRequestNote, commits: Int) -> String {
        let ref = "#\(pr.number)"
        switch pr.action {
        case .opened: return "Opened draft pull request \(ref)."
        case .existing: return "Pushed to the branch of pull request \(ref)."
        case .pushedToPullRequest: return "Pushed \(commits) commit\(commits == 1 ? "" : "s") to this pull request."
        }
    }

    static func displayName(_ f: FamiliarRef) -> String {
        let n = f.displayName.trimmingCharacters(in: .whitespacesAndNewlines)
        return sanitize(n.isEmpty ? f.id : n, limit: 100).replacingOccurrences(of: "*", with: "")
    }

    /// Untrusted text made safe to embed: redacted, no HTML comment openers, bounded.
    static func untrusted(_ text: String, limit: Int = untrustedLimit) -> String {
        sanitize(text, limit: limit)
    }

    private static func sanitize(_ text: String, limit: Int) -> String {
        var s = Redactor.redactShapes(text)
        s = s.replacingOccurrences(of: "<!--", with: "&lt;!--").replacingOccurrences(of: "-->", with: "--&gt;")
        if s.count > limit { s = String(s.prefix(limit)) + "\n\n… (truncated)" }
        return s
    }

    static func quote(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "> " + $0 }.joined(separator: "\n")
    }

    /// Task ids are ours (`t_` + hex), but the marker must not be breakable by any id.
    static func safeID(_ id: String) -> String {
        String(id.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._:-".unicodeScalars.contains($0)) }
            .map(Character.init).prefix(128))
    }
}
