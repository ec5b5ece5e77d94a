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
        }
    }

    /// Whether `trigger` brings nothing that `live` (a task with the same key) does not.
    public static func isCoveredBy(_ live: TaskSpec, trigger: TaskSpec) -> Bool {
        instructions(live.kind) == instructions(trigger.kind)
    }
}
