import Foundation
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// What one attempt amounted to, for the retry decision.
public enum AttemptClass: String, Sendable, Codable, CaseIterable {
    /// The runtime ran to a contract exit (0, 1 or 3) with a valid result. Never retried.
    case completed
    /// Something went wrong that another attempt may not hit (crash, timeout, OOM,
    /// contract violation, infrastructure). Retried while the budget lasts.
    case retrySafe = "retry_safe"
    /// Retrying cannot help (the runtime cannot be executed). The task fails at once.
    case failed
    /// Torn down on request.
    case cancelled
    /// The supervisor stopped while the attempt ran: torn down by a graceful shutdown
    /// (`TaskStore.recordShutdownInterruption`) or found running at start after a crash
    /// (`TaskStore.recoverInterrupted`). Never counted against the retry budget.
    case interrupted
}

/// How a finished task is reported (maps onto a Check Run conclusion).
public enum Disposition: String, Sendable, Codable, CaseIterable {
    case success, neutral, failure
    case actionRequired = "action_required"
    case cancelled
}

/// The classifier's verdict on one attempt.
public struct AttemptOutcome: Sendable, Equatable {
    public var attemptClass: AttemptClass
    /// The disposition if this attempt ends the task: from the result for `completed`,
    /// `failure` for `retrySafe` (once the budget is spent) and `failed`, `cancelled` for
    /// `cancelled`.
    public var disposition: Disposition
    /// The valid result, when there is one (completed attempts always have one).
    public var result: ResultEnvelope?
    /// The contract violation, when the exit code promised a result and there was none
    /// or it was invalid.
    public var violation: ContractViolation?
    /// One line for humans: why this class.
    public var reason: String
    /// Contract mismatches (status vs exit code) that did not change the class.
    public var notes: [String]
    /// Whether opening/updating a pull request is warranted.
    public var prWarranted: Bool

    public init(attemptClass: AttemptClass, disposition: Disposition, result: ResultEnvelope? = nil,
                violation: ContractViolation? = nil, reason: String, notes: [String] = [], prWarranted: Bool = false) {
        self.attemptClass = attemptClass; self.disposition = disposition; self.result = result
        self.violation = violation; self.reason = reason; self.notes = notes; self.prWarranted = prWarranted
    }

    public var isRetrySafe: Bool { attemptClass == .retrySafe }

    /// `reason` followed by the notes, for the attempt row's note column.
    public var noteText: String {
        ([reason] + notes).joined(separator: "; ")
    }
}

/// Applies the classification table of docs/contract.md.
public enum AttemptClassifier {
    /// Classifies an attempt from the sandbox's exit report and the result reader's
    /// verdict (`nil` when no result was read: treated as "no result file").
    public static func classify(exit: ExitReport, result: Result<ResultEnvelope, ContractViolation>?) -> AttemptOutcome {
        switch exit.exitClass {
        case .exited(let code) where code == 0 || code == 1 || code == 3:
            let checked = result ?? .failure(ContractViolation(.noResultFile, "no result file"))
            switch checked {
            case .failure(let v):
                return AttemptOutcome(attemptClass: .retrySafe, disposition: .failure, violation: v,
                                      reason: "contract violation: exited \(code) but \(v)")
            case .success(let envelope):
                return completed(code: code, envelope: envelope)
            }
        case .exited(2):
            return retry("runtime reported an error (exit 2)")
        case .exited(let code):
            return retry("runtime exited with unexpected status \(code)")
        case .signaled(let sig, let core):
            return retry("runtime killed by signal \(sig) (\(signalName(sig)))\(core ? ", core dumped" : "")")
        case .timedOut:
            return retry("attempt timed out")
        case .oomKilled:
            return retry("attempt ran out of memory (OOM kill)")
        case .seccompViolation:
            return retry("runtime made a forbidden system call (seccomp)")
        case .setupFailed(let stage, let err, let detail):
            return retry("sandbox setup failed at \(stage.name): \(detail.isEmpty ? errnoText(err) : Redactor.redactShapes(detail))")
        case .spawnFailed(let err):
            let what = err == ENOENT ? "runtime not found" : (err == EACCES ? "runtime not executable" : "runtime could not be started")
            return AttemptOutcome(attemptClass: .failed, disposition: .failure,
                                  reason: "\(what) (\(errnoText(err))); retrying cannot help")
        case .cancelled:
            return AttemptOutcome(attemptClass: .cancelled, disposition: .cancelled, reason: "cancelled")
        }
    }

    /// An infrastructure step before the runtime (the clone) failed: retry-safe.
    public static func classifyCloneFailure(_ detail: String) -> AttemptOutcome {
        classifyInfraFailure(stage: "clone", detail: detail)
    }

    /// Any infrastructure failure outside the runtime (clone, workspace preparation,
    /// token minting): retry-safe. `detail` is redacted of token shapes.
    public static func classifyInfraFailure(stage: String, detail: String) -> AttemptOutcome {
        retry("infrastructure: \(stage) failed: \(Redactor.redactShapes(detail))")
    }

    private static func retry(_ reason: String) -> AttemptOutcome {
        AttemptOutcome(attemptClass: .retrySafe, disposition: .failure, reason: reason)
    }

    /// Exit code and status decide the disposition of a completed attempt; when they
    /// contradict, the exit code wins and a note records the mismatch.
    private static func completed(code: Int32, envelope: ResultEnvelope) -> AttemptOutcome {
        let byCode: Disposition
        let consistent: Bool
        switch code {
        case 0:
            byCode = .success
            consistent = envelope.status == .success || envelope.status == .partial
        case 1:
            byCode = .failure
            consistent = envelope.status == .failure
        default: // 3
            byCode = .actionRequired
            consistent = envelope.status == .needsInput
        }
        var notes: [String] = []
        let disposition: Disposition
        if consistent {
            switch envelope.status {
            case .success: disposition = .success
            case .partial: disposition = .neutral
            case .failure: disposition = .failure
            case .needsInput: disposition = .actionRequired
            }
        } else {
            disposition = byCode
            if code == 3 {
                notes.append("contract mismatch: exit 3 without status needs_input (status \(envelope.status.rawValue)); exit code wins")
            } else {
                notes.append("contract mismatch: exit \(code) contradicts status \(envelope.status.rawValue); exit code wins")
            }
        }
        let pr = (disposition == .success || disposition == .neutral)
            && (envelope.status == .success || envelope.status == .partial)
            && envelope.hasBranchWithCommits
        return AttemptOutcome(attemptClass: .completed, disposition: disposition, result: envelope,
                              reason: "completed: exit \(code), status \(envelope.status.rawValue)",
                              notes: notes, prWarranted: pr)
    }

    static func errnoText(_ e: Int32) -> String {
        let names: [Int32: String] = [ENOENT: "ENOENT", EACCES: "EACCES", EPERM: "EPERM", ENOEXEC: "ENOEXEC",
                                      ENOMEM: "ENOMEM", EINVAL: "EINVAL", ENOSPC: "ENOSPC", EAGAIN: "EAGAIN"]
        let msg = String(cString: strerror(e))
        return names[e].map { "\($0): \(msg)" } ?? "errno \(e): \(msg)"
    }

    static func signalName(_ s: Int32) -> String {
        let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT",
                                      SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGINT: "SIGINT", SIGHUP: "SIGHUP",
                                      SIGPIPE: "SIGPIPE", SIGFPE: "SIGFPE", SIGSYS: "SIGSYS", SIGQUIT: "SIGQUIT"]
        return names[s] ?? "signal \(s)"
    }
}
