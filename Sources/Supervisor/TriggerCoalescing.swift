import Foundation

/// Which triggers ask for the same work, so that a repeated one (a re-label, a second
/// assignment, the same mention twice) joins the task already queued or running instead
/// of starting a second one, and one with new instructions waits for it.
public enum TriggerCoalescing {
    /// Tasks with equal keys are the same kind of work on the same issue or pull request
    /// of the same repository, by the same familiar. GitHub compares owner and repository
    /// names without case.
    public static func key(_ task: TaskSpec) -> String {
        let repo = "\(task.repo.owner)/\(task.repo.name)".lowercased()
        return "\(repo)#\(task.kind.targetNumber):\(task.kind.name):\(task.familiar.id)"
    }

    /// What a trigger asks beyond "work on this issue": a comment's body (and, for a review
    /// comment, where it sits). Nil for `fix_issue`: the issue is the instruction, and the
    /// task reads it when it runs.
    public static func instructions(_ kind: TaskKind) -> String? {
        switch kind {
        case .fixIssue:
            return nil
        case .respondToMention(_, let body):
            return body
        case .addressReviewComment(_, let body, let hunk, let path, let line):
            return [body, path ?? "", line.map(String.init) ?? "", hunk ?? ""].joined(separator: "\u{0}")
        case .reviewPullRequest:
            return nil   // a review's instruction is the commit it reviews: see `supersedes`
        }
    }

    /// Whether `trigger` brings nothing that `live` (a task with the same key) does not.
    /// A review of the same commit (or of no commit in particular: "the current head")
    /// joins a live review.
    public static func isCoveredBy(_ live: TaskSpec, trigger: TaskSpec) -> Bool {
        if trigger.kind.isReview {
            guard let wanted = trigger.headSHA else { return true }
            return live.headSHA?.lowercased() == wanted.lowercased()
        }
        return instructions(live.kind) == instructions(trigger.kind)
    }

    /// Whether `trigger` makes the live task of the same key pointless: a review of a
    /// newer commit supersedes a queued or running review of another (or of an unpinned)
    /// one, which is cancelled with "superseded by <sha>" and publishes no findings.
    public static func supersedes(_ trigger: TaskSpec, live: TaskSpec) -> Bool {
        guard trigger.kind.isReview, live.kind.isReview, let sha = trigger.headSHA else { return false }
        return live.headSHA?.lowercased() != sha.lowercased()
    }
}
