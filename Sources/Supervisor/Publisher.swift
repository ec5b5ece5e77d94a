import Foundation

/// How a task ended, as published.
public struct TaskOutcome: Sendable, Equatable {
    /// completed, failed or cancelled.
    public var state: TaskState
    public var disposition: Disposition
    /// The valid result of the final attempt, when there was one.
    public var result: ResultEnvelope?
    /// Why it ended this way, redacted of token shapes.
    public var reason: String?
    /// For needs_input: what the agent asks (the result's pr_body, or its summary when
    /// pr_body is empty). Nil otherwise.
    public var question: String?
    /// Later triggers of the same work that joined the task (see `TriggerCoalescing`).
    public var coalescedTriggers: Int = 0
    /// The task failed because its last attempt ran out of time (GitHub shows a timeout
    /// apart from a failure: Check Run conclusion `timed_out`).
    public var timedOut: Bool
    /// A review superseded by a newer push (that commit): concluded `neutral`, findings withheld.
    public var supersededBy: String? = nil

    public init(state: TaskState, disposition: Disposition, result: ResultEnvelope? = nil, reason: String? = nil,
                timedOut: Bool = false) {
        self.state = state
        self.disposition = disposition
        self.result = result
        self.timedOut = timedOut && state == .failed
        self.reason = reason.map(Redactor.redactShapes)
        if let r = result, r.status == .needsInput {
            let body = r.prBody.trimmingCharacters(in: .whitespacesAndNewlines)
            self.question = body.isEmpty ? r.summary : r.prBody
        } else {
            self.question = nil
        }
    }
}

/// One lifecycle event, as the outbox delivers it.
/// `coalesced` counts later triggers of the same work that joined the task instead of
/// starting another (the status comment says so).
public enum PublicationEvent: Sendable, Equatable {
    /// `waitingFor` names the installation limit the task waits for, when one held it.
    case queued(TaskSpec, coalesced: Int = 0, waitingFor: String? = nil)
    case started(TaskSpec, attempt: Int, coalesced: Int = 0)
    case finished(TaskSpec, TaskOutcome)

    public var task: TaskSpec {
        switch self {
        case .queued(let t, _, _), .started(let t, _, _), .finished(let t, _): return t
        }
    }

    /// Triggers coalesced into the task so far.
    public var coalesced: Int {
        switch self {
        case .queued(_, let n, _), .started(_, _, let n): return n
        case .finished(_, let o): return o.coalescedTriggers
        }
    }

    /// "queued", "started", "finished" (the outbox's `event` column).
    public var name: String {
        switch self {
        case .queued: return "queued"
        case .started: return "started"
        case .finished: return "finished"
        }
    }
}

/// Why a publication is to be delivered again later.
public enum PublicationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing is wrong with the event, the far end is (unreachable, 5xx, rate limited):
    /// the outbox keeps it and delivers it again after a backoff.
    case retryLater(reason: String)

    public var description: String {
        switch self { case .retryLater(let r): return "publication deferred: \(r)" }
    }
}

/// Receives task lifecycle events (the GitHub Check Run publisher, the log, tests).
///
/// The supervisor's outbox delivers each event through `publish`, at least once: an
/// event is removed from the store only after `publish` returned, so after a crash it
/// is delivered again, and the implementation must make that harmless (idempotent).
/// `publish` throws `.retryLater` for a failure worth retrying; anything else is the
/// implementation's to log, and the event counts as delivered. The default `publish`
/// calls the three event methods and never asks for a retry.
public protocol Publisher: Sendable {
    func taskQueued(_ task: TaskSpec) async
    func attemptStarted(_ task: TaskSpec, attempt: Int) async
    func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async
    func publish(_ event: PublicationEvent) async throws(PublicationError)
}

extension Publisher {
    public func publish(_ event: PublicationEvent) async throws(PublicationError) {
        switch event {
        case .queued(let t, _, _): await taskQueued(t)
        case .started(let t, let n, _): await attemptStarted(t, attempt: n)
        case .finished(let t, let o): await taskFinished(t, outcome: o)
        }
    }
}

/// Publishes each event through several publishers in order. An event a publisher asks to
/// retry stops there: the ones after it see the event once, when it was delivered before
/// them (so GitHub first, then the log: a logged `task_finished` was published).
public struct PublisherChain: Publisher {
    public let publishers: [any Publisher]
    public init(_ publishers: [any Publisher]) { self.publishers = publishers }

    public func taskQueued(_ task: TaskSpec) async { _ = try? await publish(.queued(task)) }
    public func attemptStarted(_ task: TaskSpec, attempt: Int) async { _ = try? await publish(.started(task, attempt: attempt)) }
    public func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async { _ = try? await publish(.finished(task, outcome)) }

    public func publish(_ event: PublicationEvent) async throws(PublicationError) {
        for p in publishers { try await p.publish(event) }
    }
}

/// Publishes nowhere.
public struct NullPublisher: Publisher {
    public init() {}
    public func taskQueued(_ task: TaskSpec) async {}
    public func attemptStarted(_ task: TaskSpec, attempt: Int) async {}
    public func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async {}
}

/// Writes one JSON object per event and line to a file handle (stderr by default).
/// Only identifiers, states and redacted reasons: never issue/comment bodies, the
/// agent's summary or PR body, or anything from the environment.
public final class LogPublisher: Publisher {
    private let handle: FileHandle
    private let lock = NSLock()
    private let clock: @Sendable () -> Date

    public init(handle: FileHandle = .standardError, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.handle = handle
        self.clock = clock
    }

    public func taskQueued(_ task: TaskSpec) async {
        emit("task_queued", task, [:])
    }

    public func attemptStarted(_ task: TaskSpec, attempt: Int) async {
        emit("attempt_started", task, ["attempt": .number(Double(attempt))])
    }

    public func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async {
        var f: [String: JSONValue] = [
            "state": .string(outcome.state.rawValue),
            "disposition": .string(outcome.disposition.rawValue),
        ]
        if let r = outcome.reason { f["reason"] = .string(Redactor.redactShapes(r)) }
        if let res = outcome.result {
            f["status"] = .string(res.status.rawValue)
            f["commits"] = .number(Double(res.commits.count))
            f["files_changed"] = .number(Double(res.filesChanged.count))
        }
        emit("task_finished", task, f)
    }

    /// The line for an event (exposed for tests).
    func line(_ event: String, _ task: TaskSpec, _ fields: [String: JSONValue]) -> String {
        var obj = fields
        obj["event"] = .string(event)
        obj["ts"] = .string(LogPublisher.timestamp(clock()))
        obj["task_id"] = .string(task.id)
        obj["repo"] = .string("\(task.repo.owner)/\(task.repo.name)")
        obj["kind"] = .string(task.kind.name)
        obj["number"] = .number(Double(task.kind.targetNumber))
        obj["familiar"] = .string(task.familiar.id)
        if let i = task.installationID { obj["installation_id"] = .number(Double(i)) }
        return JSONValue.object(obj).description
    }

    private func emit(_ event: String, _ task: TaskSpec, _ fields: [String: JSONValue]) {
        let data = Data((line(event, task, fields) + "\n").utf8)
        lock.lock()
        defer { lock.unlock() }
        try? handle.write(contentsOf: data)
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }
}
