import Foundation
import Supervisor

/// Why a task is refused before it is stored: one check for every way a task comes in
/// (the task API and webhook deliveries), so nothing is queued that no attempt could run.
/// Descriptions name the field and the rule, never the value (a clone URL may carry a token).
public enum TaskValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The id is empty, longer than 128, or holds other than letters, digits, `_`, `-`, `.`.
    case invalidID
    /// No session brief can be built for it (a negative issue or PR number, credentials in
    /// the clone URL, a value the contract's schema refuses).
    case brief(BriefError)

    public var description: String {
        switch self {
        case .invalidID: return "invalid task: id may hold only letters, digits, '_', '-' and '.' (at most 128)"
        case .brief(let error): return "invalid task: \(error)"
        }
    }
}

public enum TaskValidation {
    /// Refuses now what every attempt would refuse.
    public static func validate(_ spec: TaskSpec) throws(TaskValidationError) {
        guard !spec.id.isEmpty, spec.id.count <= 128,
              spec.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }) else {
            throw .invalidID
        }
        // A review for a v1 familiar is stored and then refused with a note on the task
        // (TaskSupervisor.refusal); everything else about it is checked here as for v2.
        var briefed = spec
        if spec.kind.isReview && spec.contractVersion < 2 { briefed.contractVersion = 2 }
        do { try SessionBrief(task: briefed, workspaceRoot: "/workspace").validate() } catch { throw .brief(error) }
    }
}
