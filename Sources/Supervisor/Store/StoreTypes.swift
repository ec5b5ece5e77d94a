import Foundation
import Sandbox

/// Why a store operation failed.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// SQLite said no (the step and SQLite's message are inside).
    case sqlite(SQLiteError)
    /// PostgreSQL said no (the step, SQLSTATE and message; never the connection string).
    case postgres(PostgresError)
    /// The attempt's lease ran out and another host took its task over: this host's
    /// finish of it is refused (fencing), so no task completes twice.
    case leaseLost(taskID: String, attempt: Int)
    case taskNotFound(String)
    /// A task with this id exists already.
    case duplicateTask(String)
    /// The task is not in a state that allows the operation.
    case invalidTransition(taskID: String, from: String, operation: String)
    /// `finishAttempt` for an attempt that is not running (unknown, or already finished).
    case attemptNotRunning(taskID: String, attempt: Int)
    /// The database was written by a newer supervisor.
    case schemaTooNew(found: Int32, supported: Int32)
    case invalidArgument(String)
    /// A stored value could not be decoded.
    case corrupt(String)
    /// Creating the state directory or the database file failed.
    case io(String)

    public var description: String {
        switch self {
        case .sqlite(let e): return e.description
        case .postgres(let e): return e.description
        case .leaseLost(let id, let n):
            return "attempt \(n) of task \(id) lost its lease: another host took the task over, this finish is refused"
        case .taskNotFound(let id): return "task \(id) not found"
        case .duplicateTask(let id): return "task \(id) exists already"
        case .invalidTransition(let id, let from, let op): return "task \(id) is \(from): cannot \(op)"
        case .attemptNotRunning(let id, let n): return "attempt \(n) of task \(id) is not running"
        case .schemaTooNew(let found, let supported):
            return "database schema version \(found) is newer than this supervisor supports (\(supported))"
        case .invalidArgument(let s): return "invalid argument: \(s)"
        case .corrupt(let s): return "stored data could not be read: \(s)"
        case .io(let s): return s
        }
    }
}

/// What became of a webhook delivery.
public enum DeliveryOutcome: Sendable, Equatable {
    /// A task was queued for it.
    case queued(taskID: String)
    /// Nothing to do (unsupported event, bot's own comment, ...).
    case ignored(reason: String)
    /// The same work was already queued or running: the delivery joined that task.
    case coalesced(taskID: String)
}

/// `recordDelivery`'s answer.
public enum DeliveryInsertResult: Sendable, Equatable {
    /// First time this delivery id was seen: recorded (and its task queued).
    case inserted
    /// Seen before: nothing was created.
    case duplicate
    /// Its task was the same work as `taskID`, queued or running: no task was created,
    /// the delivery was recorded against `taskID` and that task's status is published again.
    case coalesced(taskID: String)
    /// Its task brings new instructions for an issue or PR with a live task of the same
    /// kind: queued, and not claimed before `taskID` has ended.
    case queuedAfter(taskID: String)
    /// Its task (a review of a newer commit) was queued, and superseded the live reviews of
    /// the same pull request: `queued` ones are cancelled now, `running` ones have a cancel
    /// request (the caller tears their sandboxes down).
    case superseding(queued: [String], running: [String])
    /// Its installation reached a daily limit that refuses: the task was stored cancelled,
    /// `reason` naming the limit (its status comment says so).
    case refused(taskID: String, reason: String)
}

/// A recorded webhook delivery (the payload's hash only, never its body).
public struct DeliveryRecord: Sendable, Equatable {
    public var deliveryID: String
    public var event: String
    public var payloadSHA256: String
    public var receivedAt: Date
    public var outcome: DeliveryOutcome
}

/// `cancel`'s answer.
public enum CancelResult: Sendable, Equatable {
    /// The task was queued (or its attempt already finished) and is now cancelled.
    case cancelled
    /// An attempt is running: the caller tears down the sandbox, finishes the attempt as
    /// cancelled and calls `cancel` again (or `requeue`, which then cancels).
    case running(attempt: Int)
    /// The task had already ended in this state; nothing changed.
    case alreadyFinished(TaskState)
}

/// `retry`'s answer.
public enum RetryResult: Sendable, Equatable {
    /// The finished task is queued again.
    case queued
    /// The task is queued or running: nothing changed.
    case notFinished(TaskState)
}

/// The lifecycle of one attempt row.
public enum AttemptState: String, Sendable, Codable, CaseIterable {
    case running, finished, interrupted
}

/// What stopped an `interrupted` attempt. The two are budgeted apart: a graceful
/// shutdown (a deploy) never counts against a task, a crash counts against the task's
/// crash budget, so a task that crashes the daemon cannot loop.
public enum AttemptInterruption: String, Sendable, Codable, CaseIterable {
    /// SIGTERM/SIGINT: the shutdown grace ran out and the attempt was torn down.
    case shutdown
    /// Found still running at start: the supervisor before was killed or crashed.
    case crash
}

/// How one attempt ended, as `TaskStore.recordAttempt` takes it.
public struct AttemptEnd: Sendable {
    public var report: ExitReport?
    public var outcome: AttemptOutcome
    /// Redacted, capped tails.
    public var stdout: RedactedOutput
    public var stderr: RedactedOutput
    /// The egress log JSON, when the attempt had one.
    public var egressLog: String?
    /// Bytes through the attempt's egress proxy, both directions (its installation's usage).
    public var egressBytes: UInt64?

    public init(report: ExitReport?, outcome: AttemptOutcome, stdout: RedactedOutput = .empty,
                stderr: RedactedOutput = .empty, egressLog: String? = nil, egressBytes: UInt64? = nil) {
        self.report = report; self.outcome = outcome; self.stdout = stdout; self.stderr = stderr; self.egressLog = egressLog
        self.egressBytes = egressBytes
    }

    /// What the attempt used, from its exit report and egress totals.
    public var usage: AttemptUsage { AttemptUsage(report: report, egressBytes: egressBytes) }
}

/// Where a task went when its attempt was recorded (or at recovery).
public enum TaskTransition: Sendable, Equatable {
    case completed(Disposition)
    /// Back in the queue, claimable from `notBefore` (a retry, or an interrupted attempt).
    case requeued(notBefore: Date)
    case failed(reason: String)
    case cancelled

    /// The task's state after the transition.
    public var state: TaskState {
        switch self {
        case .completed: return .completed
        case .requeued: return .queued
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }
}

/// A publication waiting in the store's outbox.
public struct PendingPublication: Sendable, Equatable {
    /// Its place in the outbox: `publicationDelivered(seq:)` removes exactly this one, not
    /// a newer event of the same task that replaced it meanwhile.
    public var seq: Int64
    public var event: PublicationEvent
    /// Deliveries tried so far that asked to be retried.
    public var tries: Int
}

/// One attempt as stored.
public struct AttemptRecord: Sendable, Equatable {
    public var taskID: String
    public var number: Int
    public var state: AttemptState
    public var startedAt: Date
    public var endedAt: Date?
    public var exitReport: ExitReport?
    public var classification: AttemptClass?
    public var note: String?
    /// Redacted, capped tails.
    public var stdout: RedactedOutput
    public var stderr: RedactedOutput
    /// The egress log JSON, when the attempt had one.
    public var egressLog: String?
    /// Set for `interrupted` attempts.
    public var interruptedBy: AttemptInterruption? = nil
    /// A finished attempt's verdict, kept with it: what the task ends with when this
    /// attempt ends it, so recovery can finish the task from the attempt alone.
    public var disposition: Disposition? = nil
    /// A completed attempt's valid result.
    public var result: ResultEnvelope? = nil
}

/// One task as stored, without its attempts.
public struct TaskRecord: Sendable, Equatable {
    public var spec: TaskSpec
    public var state: TaskState
    public var createdAt: Date
    public var updatedAt: Date
    /// Earliest time the task may be claimed (retry backoff).
    public var notBefore: Date
    /// Attempts claimed so far (interrupted ones included).
    public var attemptCount: Int
    public var cancelRequested: Bool
    /// Set once the task ended.
    public var disposition: Disposition?
    public var finalReason: String?
    public var result: ResultEnvelope?
    /// Later triggers of the same work that joined this task instead of starting another.
    public var coalescedTriggers: Int = 0
    /// The task this one waits for (same work, new instructions), if any.
    public var queuedAfter: String? = nil
    /// For a review superseded by a newer push: that commit.
    public var supersededBy: String? = nil
    /// The installation limit this queued task waited for when it came in, if any.
    public var heldBy: String? = nil

    public var id: String { spec.id }
}

/// A task with its attempts, oldest first.
public struct TaskDetail: Sendable, Equatable {
    public var record: TaskRecord
    public var attempts: [AttemptRecord]
}

/// A task touched by `recoverInterrupted`.
public struct RecoveredTask: Sendable, Equatable {
    public var taskID: String
    /// The attempt that was interrupted (nil when the task was running without one).
    public var interruptedAttempt: Int?
    /// The task's new state: queued, failed ("interrupted too often") or cancelled; or,
    /// when its last attempt had finished, whatever that attempt's verdict gives.
    public var state: TaskState
}
