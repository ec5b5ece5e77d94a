import Foundation
import Sandbox
import Synchronization

/// The durable task store: the queue, attempts, deliveries, the publication outbox and
/// installation usage, behind one API whichever database holds them.
///
/// Two engines (`StoreBackend`) run the same statements:
/// - `SQLiteBackend`, the embedded default: one file, `<state>/coven.db`, one host.
/// - PostgreSQL (target `PostgresStore`): one database a fleet of hosts shares; claims
///   take rows with `FOR UPDATE SKIP LOCKED`, running attempts hold leases that their host
///   renews, and hosts tell each other of news with `NOTIFY`.
///
/// Every method is one transaction, committed (durable) before it returns. Reads (task
/// detail, lists, counts for /metrics, the outbox's next event) never wait for writes.
/// The class is Sendable.
public final class TaskStore: Sendable {
    /// The schema version this build writes (both engines).
    public static let schemaVersion: Int32 = 7
    /// The SQLite database's file name inside the state directory.
    public static let fileName = "coven.db"

    let backend: any StoreBackend
    private let clock: @Sendable () -> Date
    /// Per-installation limits the admission and the claim apply (`setInstallationLimits`).
    private let limits = Mutex<[Int64: InstallationLimits]>([:])
    private let fleetLimitValue = Mutex<Int?>(nil)

    /// Opens (creating if needed) `<stateDirectory>/coven.db`; the directory is created
    /// with mode 0700 when missing.
    public convenience init(stateDirectory: String, busyTimeout: TimeInterval = 5,
                            clock: @escaping @Sendable () -> Date = { Date() }) throws {
        try self.init(path: (stateDirectory as NSString).appendingPathComponent(TaskStore.fileName),
                      busyTimeout: busyTimeout, clock: clock)
    }

    /// Opens (creating if needed, mode 0600) the SQLite database at `path` and migrates it.
    public convenience init(path: String, busyTimeout: TimeInterval = 5,
                            clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.init(backend: try SQLiteBackend(path: path, busyTimeout: busyTimeout), clock: clock)
    }

    /// A store on an engine already opened and migrated.
    package init(backend: any StoreBackend, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.backend = backend
        self.clock = clock
    }

    /// The SQLite file, or nil when the store is not SQLite.
    public var path: String? { (backend as? SQLiteBackend)?.path }

    /// Whether other hosts share this store (a fleet): leases, cross-host wake-ups.
    public var isShared: Bool { backend.leaseDuration != nil }

    /// How long a running attempt's lease lasts unrenewed (nil: one host, no leases).
    public var leaseDuration: TimeInterval? { backend.leaseDuration }

    /// The id this host's attempts are held under.
    public var hostID: String { backend.hostID }

    /// The schema version stored in the database.
    public func storedSchemaVersion() throws -> Int32 { try backend.storedSchemaVersion() }

    /// The most attempts the whole fleet runs at once (nil: no fleet-wide limit, each
    /// host's own limit only). Meaningless for a store only one host uses.
    public var fleetLimit: Int? {
        get { fleetLimitValue.withLock { $0 } }
        set { fleetLimitValue.withLock { $0 = newValue } }
    }

    // MARK: - Locking and coding helpers

    /// Reads that never wait for a writer, and that no writer waits for.
    func reading<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try backend.reading(body)
    }

    /// Several reads that must see one snapshot (a task and its attempts).
    private func read<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try backend.snapshot(body)
    }

    /// A read-modify-write in one transaction, committed (durable) before it returns.
    package func write<T: Sendable>(_ body: (any SQLConnection, Date) throws -> T) throws -> T {
        let now = clock()
        return try backend.write { conn in try body(conn, now) }
    }

    /// The store's clock (tests set it).
    package var now: Date { clock() }

    /// A result as stored: redacted of token shapes whoever recorded it (the runner has
    /// already removed the attempt's own secrets).
    private static func resultJSON(_ result: ResultEnvelope) throws -> String {
        try json(Redactor().redact(result))
    }

    /// A result as read back: rows written before results were redacted are redacted now,
    /// so the API and the publisher never serve a stored token.
    private static func decodeResult(_ text: String, _ what: String) throws -> ResultEnvelope {
        Redactor().redact(try decode(ResultEnvelope.self, text, what))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try enc.encode(value), as: UTF8.self) } catch {
            throw StoreError.invalidArgument("cannot encode \(T.self): \(error)")
        }
    }

    package static func decode<T: Decodable>(_ type: T.Type, _ text: String?, _ what: String) throws -> T {
        guard let text else { throw StoreError.corrupt("\(what) is missing") }
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw StoreError.corrupt("\(what): \(error)")
        }
    }

    private static func installationKey(_ id: Int64?) -> Int64 { id ?? -1 }

    static func taskState(_ conn: any SQLConnection, _ id: String) throws -> (state: TaskState, attempts: Int, cancelRequested: Bool) {
        guard let row = try conn.query("SELECT state, attempts, cancel_requested FROM tasks WHERE id = ?" + conn.dialect.forUpdate,
                                       [id]).first else {
            throw StoreError.taskNotFound(id)
        }
        guard let s = row.string("state"), let state = TaskState(rawValue: s) else { throw StoreError.corrupt("task \(id) state") }
        return (state, Int(row.int("attempts") ?? 0), (row.int("cancel_requested") ?? 0) != 0)
    }

    private static func runningAttempt(_ conn: any SQLConnection, _ id: String) throws -> Int? {
        if case .int(let n) = try conn.scalar("SELECT number FROM attempts WHERE task_id = ? AND state = 'running' ORDER BY number DESC LIMIT 1", [id]) {
            return Int(n)
        }
        return nil
    }

    /// Guards complete/requeue/fail: the task must be running with no attempt in flight.
    private static func requireRunningIdle(_ conn: any SQLConnection, _ id: String, _ op: String) throws -> (attempts: Int, cancelRequested: Bool) {
        let t = try taskState(conn, id)
        guard t.state == .running else { throw StoreError.invalidTransition(taskID: id, from: t.state.rawValue, operation: op) }
        if let n = try runningAttempt(conn, id) {
            throw StoreError.invalidTransition(taskID: id, from: "running (attempt \(n) not finished)", operation: op)
        }
        return (t.attempts, t.cancelRequested)
    }

    // MARK: - Inserting

    /// Queues `task`; committed (fsynced) before it returns. `notBefore` delays the
    /// first claim.
    /// The task's installation's limits apply (`setInstallationLimits`): it may be held
    /// (queued with the limit it waits for) or refused (stored cancelled).
    @discardableResult
    public func insert(_ task: TaskSpec, notBefore: Date? = nil) throws -> Admission {
        let taskLimits = self.limits(for: task)
        let spec = try TaskStore.json(task)
        return try write { conn, now in
            try TaskStore.insertTask(conn, task, spec: spec, now: now, notBefore: notBefore ?? now, limits: taskLimits)
        }
    }

    /// Sets the per-installation limits new tasks are admitted under and claims honour.
    public func setInstallationLimits(_ map: [Int64: InstallationLimits]) {
        limits.withLock { $0 = map.filter { !$0.value.isEmpty } }
    }

    /// The limits set by `setInstallationLimits`, by installation.
    public var installationLimits: [Int64: InstallationLimits] { limits.withLock { $0 } }

    private func limits(for task: TaskSpec) -> InstallationLimits? {
        task.installationID.flatMap { id in limits.withLock { $0[id] } }
    }

    /// Queues several tasks in one transaction (one fsync): all of them, or none.
    public func insert(_ tasks: [TaskSpec]) throws {
        let specs = try tasks.map { try TaskStore.json($0) }
        try write { conn, now in
            for (t, spec) in zip(tasks, specs) { try TaskStore.insertTask(conn, t, spec: spec, now: now, notBefore: now) }
        }
    }

    /// `spec` is the task's JSON, encoded by the caller before its write began: the
    /// writer runs one write at a time, so the less each does inside, the more a batch holds.
    @discardableResult
    private static func insertTask(_ conn: any SQLConnection, _ task: TaskSpec, spec: String, now: Date, notBefore: Date,
                                   after: String? = nil, limits: InstallationLimits? = nil) throws -> Admission {
        guard !task.id.isEmpty else { throw StoreError.invalidArgument("task id is empty") }
        let admission = try limits.map { try admit(conn, task, $0, now: now) }
        var start = notBefore
        var heldBy: String?
        if case .admitted(let held)? = admission?.admission { heldBy = held }
        if let later = admission?.notBefore { start = max(start, later) }
        do {
            try conn.run("""
                INSERT INTO tasks (id, spec, state, installation_id, created_at, updated_at, not_before, coalesce_key,
                                   after_task, held_by)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
                """, [task.id, spec, task.installationID, now, now, start, TriggerCoalescing.key(task), after, heldBy])
        } catch {
            if (error as? any SQLFailure)?.isConstraint == true { throw StoreError.duplicateTask(task.id) }
            throw error
        }
        try conn.run("INSERT INTO installation_turns (installation_key, last_claim) VALUES (?, 0) ON CONFLICT DO NOTHING",
                     [installationKey(task.installationID)])
        try enqueue(conn, task.id, "queued", now: now)
        try queued(conn)
        if case .refused(let reason)? = admission?.admission {
            try markCancelled(conn, task.id, now: now, reason: reason)
        }
        return admission?.admission ?? .admitted(heldBy: nil)
    }

    /// Tells the other hosts (a fleet) that a task may be claimable now.
    static func queued(_ conn: any SQLConnection) throws { try conn.notify(StoreChannel.queue, "") }

    /// Puts `event` in the outbox for the task, replacing the task's pending one (the newer
    /// event says everything the older did: the publisher creates what is missing).
    static func enqueue(_ conn: any SQLConnection, _ taskID: String, _ event: String, attempt: Int? = nil,
                                now: Date) throws {
        try conn.run(conn.dialect.replacePublicationSQL, [taskID, event, attempt, now, now])
        try conn.notify(StoreChannel.outbox, "")
    }

    /// Records a webhook delivery and, in the same transaction, queues its task.
    /// A delivery id seen before creates nothing and returns `.duplicate`.
    ///
    /// Repeated triggers are coalesced here, in the transaction (so two deliveries at once,
    /// on this connection or another, cannot both create a task): when a task with the
    /// same `TriggerCoalescing.key` is queued or running (and not being cancelled) and the
    /// trigger brings no instructions it lacks, no task is created, the delivery is
    /// recorded `coalesced` into it, its `coalesced` count goes up and its current status
    /// is queued for publication again (`.coalesced`). With new instructions the task is
    /// queued to run after the latest live one (`.queuedAfter`).
    /// `payloadSHA256` is the hex SHA-256 of the body; the body itself is never stored.
    /// `task` must be given exactly when `outcome` is `.queued(taskID:)`, with that id.
    @discardableResult
    public func recordDelivery(deliveryID: String, event: String, payloadSHA256: String,
                               outcome: DeliveryOutcome, task: TaskSpec?, installationID: Int64? = nil) throws -> DeliveryInsertResult {
        let taskLimits = task.flatMap { self.limits(for: $0) }
        guard !deliveryID.isEmpty else { throw StoreError.invalidArgument("delivery id is empty") }
        let hash = payloadSHA256.lowercased()
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw StoreError.invalidArgument("payload hash must be 64 hex digits (SHA-256)")
        }
        let taskID: String?
        let ignoredReason: String?
        switch (outcome, task) {
        case (.queued(let id), let t?) where t.id == id:
            taskID = id; ignoredReason = nil
        case (.ignored(let reason), nil):
            taskID = nil; ignoredReason = Redactor.redactShapes(reason)
        default:
            throw StoreError.invalidArgument("a task must be given exactly for outcome .queued, with the same id")
        }
        let spec = try task.map { try TaskStore.json($0) }
        let key = task.map(TriggerCoalescing.key)
        return try write { conn, now in
            let inserted = try conn.run("""
                INSERT INTO deliveries (delivery_id, event, payload_sha256, received_at, outcome, task_id, ignored_reason,
                                        installation_id)
                VALUES (?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (delivery_id) DO NOTHING
                """, [deliveryID, event, hash, now, taskID == nil ? "ignored" : "queued", ignoredReason,
                      installationID ?? task?.installationID])
            if inserted == 0 { return .duplicate }
            guard let task, let spec, let key else { return .inserted }
            // Hosts of a fleet coalesce the same work one at a time.
            if let lock = conn.dialect.keyLockSQL { try conn.query(lock, ["coalesce:" + key]) }
            let live = try conn.query("""
                SELECT id, spec, state, attempts, cancel_requested FROM tasks
                WHERE coalesce_key = ? AND state IN ('queued','running') ORDER BY seq
                """, [key])
            for row in live where (row.int("cancel_requested") ?? 0) == 0 {
                guard let id = row.string("id") else { continue }
                let liveSpec = try TaskStore.decode(TaskSpec.self, row.string("spec"), "spec of task \(id)")
                guard TriggerCoalescing.isCoveredBy(liveSpec, trigger: task) else { continue }
                try conn.run("UPDATE deliveries SET outcome = 'coalesced', task_id = ? WHERE delivery_id = ?", [id, deliveryID])
                try conn.run("UPDATE tasks SET coalesced = coalesced + 1, updated_at = ? WHERE id = ?", [now, id])
                // Its status again, now with the count (the outbox keeps one event per task).
                if row.string("state") == TaskState.running.rawValue {
                    try TaskStore.enqueue(conn, id, "started", attempt: Int(row.int("attempts") ?? 1), now: now)
                } else {
                    try TaskStore.enqueue(conn, id, "queued", now: now)
                }
                return .coalesced(taskID: id)
            }
            // A review of a newer commit: the live reviews of other commits are pointless now.
            var supersededQueued: [String] = [], supersededRunning: [String] = []
            if let sha = task.headSHA {
                for row in live {
                    guard let id = row.string("id") else { continue }
                    let spec = try TaskStore.decode(TaskSpec.self, row.string("spec"), "spec of task \(id)")
                    guard TriggerCoalescing.supersedes(task, live: spec) else { continue }
                    try conn.run("UPDATE tasks SET superseded_by = ? WHERE id = ?", [sha, id])
                    if row.string("state") == TaskState.queued.rawValue {
                        try TaskStore.markCancelled(conn, id, now: now, reason: "superseded by \(sha)")
                        supersededQueued.append(id)
                    } else {
                        try conn.run("UPDATE tasks SET cancel_requested = 1, final_reason = ?, updated_at = ? WHERE id = ?",
                                     ["superseded by \(sha)", now, id])
                        try conn.notify(StoreChannel.cancel, id)
                        supersededRunning.append(id)
                    }
                }
            }
            let after = live.last?.string("id")
            let admission = try TaskStore.insertTask(conn, task, spec: spec, now: now, notBefore: now, after: after,
                                                     limits: taskLimits)
            try conn.run("UPDATE deliveries SET task_id = ? WHERE delivery_id = ?", [task.id, deliveryID])
            if case .refused(let reason) = admission { return .refused(taskID: task.id, reason: reason) }
            if !supersededQueued.isEmpty || !supersededRunning.isEmpty {
                return .superseding(queued: supersededQueued, running: supersededRunning)
            }
            return after.map { .queuedAfter(taskID: $0) } ?? .inserted
        }
    }

    /// The delivery with this id, if recorded.
    public func delivery(id: String) throws -> DeliveryRecord? {
        try reading { conn in
            guard let r = try conn.query("SELECT * FROM deliveries WHERE delivery_id = ?", [id]).first else { return nil }
            let outcome: DeliveryOutcome
            switch r.string("outcome") {
            case "queued": outcome = .queued(taskID: r.string("task_id") ?? "")
            case "coalesced": outcome = .coalesced(taskID: r.string("task_id") ?? "")
            default: outcome = .ignored(reason: r.string("ignored_reason") ?? "")
            }
            return DeliveryRecord(deliveryID: id, event: r.string("event") ?? "", payloadSHA256: r.string("payload_sha256") ?? "",
                                  receivedAt: r.date("received_at") ?? .distantPast, outcome: outcome)
        }
    }

    // MARK: - Claiming

    /// Atomically claims the next task to run, or nil when none may start now.
    ///
    /// Eligible: queued, `not_before` passed, fewer than `perInstallationLimit` running
    /// tasks of its installation; nothing is claimed when `globalLimit` tasks run.
    /// Among eligible tasks the installation whose latest claim is oldest goes first
    /// (never-claimed installations before all others), FIFO within an installation;
    /// local-mode tasks (no installation) count as one installation.
    /// The task becomes running, its attempt count goes up, a running attempt row is
    /// inserted and its `started` publication queued; all in one IMMEDIATE transaction.
    ///
    /// The cost does not grow with the queue: `claimSQL` visits each installation once
    /// and finds its first claimable task with one seek of `tasks_claim`.
    ///
    /// The search and the decoding of the task's spec happen first on the read
    /// connection, outside the writer (a dispatcher that finds nothing never takes it).
    /// The write then searches again in its transaction, which is what makes the claim
    /// atomic, but only among installations whose turn is no later than the candidate's
    /// (any better pick is among them; where none is left, among all), and uses the spec
    /// already decoded when it picks the same task.
    public func claimNext(globalLimit: Int, perInstallationLimit: Int) throws -> (spec: TaskSpec, attempt: Int)? {
        guard globalLimit > 0, perInstallationLimit > 0 else { return nil }
        let limits = installationLimits
        let request = ClaimRequest(hostLimit: globalLimit, perInstallationLimit: perInstallationLimit,
                                   fleetLimit: fleetLimit, limits: limits, limitsJSON: TaskStore.claimLimitsJSON(limits))
        return try backend.claim(request, store: self).map { ($0.spec, $0.attempt) }
    }

    /// Makes the picked queued task running under a new attempt held by this host: the
    /// task's attempt count goes up, a running attempt row with its lease is inserted, the
    /// installation's turn moves to the back, and its `started` publication is queued.
    /// The attempt number is the claim's epoch: a finish for any other number is refused.
    package func markClaimed(_ conn: any SQLConnection, taskID id: String, attemptsSoFar: Int64, installationKey: Int64,
                             installationID: Int64?, now: Date) throws -> Int {
        let attempt = Int(attemptsSoFar) + 1
        try conn.run("UPDATE tasks SET state = 'running', attempts = ?, updated_at = ? WHERE id = ? AND state = 'queued'",
                     [attempt, now, id])
        try conn.run("""
            INSERT INTO attempts (task_id, number, state, started_at, host_id, lease_expires)
            VALUES (?, ?, 'running', ?, ?, ?)
            """, [id, attempt, now, backend.hostID, backend.leaseDuration.map { now.addingTimeInterval($0) }])
        try conn.run("""
            INSERT INTO installation_turns (installation_key, last_claim) VALUES (?, \(conn.dialect.nextTurnSQL))
            ON CONFLICT (installation_key) DO UPDATE SET last_claim = excluded.last_claim
            """, [installationKey])
        try TaskStore.enqueue(conn, id, "started", attempt: attempt, now: now)
        if let installationID {
            try TaskStore.addUsage(conn, installation: installationID, day: UsageDay.string(now), attempts: 1)
        }
        return attempt
    }

    // MARK: - Finishing

    /// Records how a running attempt ended and moves its task on, in one IMMEDIATE
    /// transaction: no crash can leave a finished attempt whose task was not moved on, or
    /// a task moved on without the publication that announces it. The verdict (class,
    /// disposition, result) is kept on the attempt as well.
    ///
    /// - `completed` → completed with the outcome's disposition and result (its contract
    ///   notes, if any, as the final reason);
    /// - `cancelled` → cancelled;
    /// - `retry_safe` → queued again after `retry`'s backoff while fewer than
    ///   `retry.maxAttempts` attempts have finished (interrupted ones never count here),
    ///   cancelled instead when a cancel was requested meanwhile; else failed with
    ///   "gave up after N attempts: …";
    /// - `failed` → failed with the outcome's reason.
    ///
    /// Every final state queues the task's `finished` publication. Output must be
    /// `RedactedOutput`; the note is redacted of token shapes; `egressLog` must be JSON.
    @discardableResult
    public func recordAttempt(taskID: String, attempt: Int, _ end: AttemptEnd, retry: RetryPolicy) throws -> TaskTransition {
        let o = end.outcome
        let host = hostID
        let stored = try TaskStore.storedAttempt(report: end.report, egressLog: end.egressLog,
                                                 result: o.attemptClass == .completed ? o.result : nil)
        return try write { conn, now in
            try TaskStore.markFinished(conn, taskID, attempt, host: host, now: now, stored, classification: o.attemptClass,
                                       note: o.noteText.isEmpty ? nil : o.noteText, disposition: o.disposition,
                                       stdout: end.stdout, stderr: end.stderr)
            try TaskStore.addAttemptUsage(conn, taskID: taskID, end.usage, now: now)
            _ = try TaskStore.requireRunningIdle(conn, taskID, "record attempt \(attempt)")
            return try TaskStore.moveOn(conn, taskID, classification: o.attemptClass, disposition: o.disposition,
                                        result: o.result, reason: o.reason,
                                        completionNote: o.notes.isEmpty ? nil : o.notes.joined(separator: "; "),
                                        retry: retry, now: now)
        }
    }

    /// A graceful shutdown tore the attempt down before it ended. The attempt is kept as
    /// `interrupted` by `shutdown`, with what it wrote so far, and the task goes back to
    /// the queue, claimable at once; it counts against no budget (a deploy during a task's
    /// last attempt must not fail it). When a cancel was requested meanwhile the task is
    /// cancelled instead. One transaction.
    @discardableResult
    public func recordShutdownInterruption(taskID: String, attempt: Int, report: ExitReport?, stdout: RedactedOutput,
                                           stderr: RedactedOutput, egressLog: String? = nil,
                                           egressBytes: UInt64? = nil) throws -> TaskTransition {
        let host = hostID
        let stored = try TaskStore.storedAttempt(report: report, egressLog: egressLog, result: nil)
        return try write { conn, now in
            let changed = try conn.run("""
                UPDATE attempts SET state = 'interrupted', interrupted_by = 'shutdown', classification = 'interrupted',
                    ended_at = ?, exit_report = ?, note = 'torn down by a shutdown of the supervisor; not counted',
                    stdout_tail = ?, stdout_truncated = ?, stdout_bytes = ?,
                    stderr_tail = ?, stderr_truncated = ?, stderr_bytes = ?, egress_log = ?
                WHERE task_id = ? AND number = ? AND state = 'running' AND (host_id IS NULL OR host_id = ?)
                """, [now, stored.report, stdout.data, stdout.truncated, stdout.originalByteCount,
                      stderr.data, stderr.truncated, stderr.originalByteCount, stored.egressLog, taskID, attempt, host])
            if changed == 0 { throw try TaskStore.refusal(conn, taskID, attempt, host: host) }
            try TaskStore.addAttemptUsage(conn, taskID: taskID, AttemptUsage(report: report, egressBytes: egressBytes), now: now)
            let t = try TaskStore.requireRunningIdle(conn, taskID, "requeue after a shutdown")
            if t.cancelRequested {
                try TaskStore.markCancelled(conn, taskID, now: now, reason: "cancelled while running")
                return .cancelled
            }
            try conn.run("UPDATE tasks SET state = 'queued', not_before = ?, updated_at = ? WHERE id = ?", [now, now, taskID])
            try TaskStore.queued(conn)
            return .requeued(notBefore: now)
        }
    }

    /// Records how a running attempt ended, leaving the task running until `complete`,
    /// `requeue`, `fail` or `cancel` (the supervisor uses `recordAttempt`, which does both
    /// at once). `note` is redacted of token shapes; `egressLog` must be JSON when given.
    public func finishAttempt(taskID: String, attempt: Int, report: ExitReport?, classification: AttemptClass,
                              note: String?, stdout: RedactedOutput, stderr: RedactedOutput,
                              egressLog: String? = nil, disposition: Disposition? = nil,
                              result: ResultEnvelope? = nil) throws {
        let host = hostID
        let stored = try TaskStore.storedAttempt(report: report, egressLog: egressLog, result: result)
        try write { conn, now in
            try TaskStore.markFinished(conn, taskID, attempt, host: host, now: now, stored, classification: classification, note: note,
                                       disposition: disposition, stdout: stdout, stderr: stderr)
        }
    }

    /// An attempt's JSON columns, encoded and checked before the transaction starts.
    private struct StoredAttempt { var report: String?; var egressLog: String?; var result: String? }

    private static func storedAttempt(report: ExitReport?, egressLog: String?, result: ResultEnvelope?) throws -> StoredAttempt {
        if let egressLog {
            do { _ = try JSONValue.parse(egressLog) } catch { throw StoreError.invalidArgument("egress log is not JSON: \(error)") }
        }
        return StoredAttempt(report: try report.map { try json($0) }, egressLog: egressLog, result: try result.map { try resultJSON($0) })
    }

    private static func markFinished(_ conn: any SQLConnection, _ taskID: String, _ attempt: Int, host: String, now: Date,
                                     _ stored: StoredAttempt,
                                     classification: AttemptClass, note: String?, disposition: Disposition?,
                                     stdout: RedactedOutput, stderr: RedactedOutput) throws {
        let changed = try conn.run("""
            UPDATE attempts SET state = 'finished', ended_at = ?, exit_report = ?, classification = ?, note = ?,
                stdout_tail = ?, stdout_truncated = ?, stdout_bytes = ?,
                stderr_tail = ?, stderr_truncated = ?, stderr_bytes = ?, egress_log = ?, disposition = ?, result = ?
            WHERE task_id = ? AND number = ? AND state = 'running' AND (host_id IS NULL OR host_id = ?)
            """, [now, stored.report, classification.rawValue, note.map(Redactor.redactShapes),
                  stdout.data, stdout.truncated, stdout.originalByteCount,
                  stderr.data, stderr.truncated, stderr.originalByteCount, stored.egressLog,
                  disposition?.rawValue, stored.result, taskID, attempt, host])
        if changed == 0 { throw try refusal(conn, taskID, attempt, host: host) }
    }

    /// The transition a finished attempt's verdict gives its running task (see
    /// `recordAttempt`), applied; final states queue the `finished` publication.
    private static func moveOn(_ conn: any SQLConnection, _ id: String, classification: AttemptClass, disposition: Disposition,
                               result: ResultEnvelope?, reason: String, completionNote: String?, retry: RetryPolicy,
                               now: Date) throws -> TaskTransition {
        let t = try taskState(conn, id)
        switch classification {
        case .completed:
            try conn.run("""
                UPDATE tasks SET state = 'completed', disposition = ?, result = ?, final_reason = ?, updated_at = ?
                WHERE id = ?
                """, [disposition.rawValue, try result.map { try resultJSON($0) }, completionNote.map(Redactor.redactShapes), now, id])
            try enqueue(conn, id, "finished", now: now)
            return .completed(disposition)
        case .cancelled:
            try markCancelled(conn, id, now: now, reason: "cancelled while running")
            return .cancelled
        case .retrySafe:
            let counted = try countedAttempts(conn, id)
            if counted < retry.maxAttempts {
                if t.cancelRequested {
                    try markCancelled(conn, id, now: now, reason: "cancelled while running")
                    return .cancelled
                }
                let notBefore = now.addingTimeInterval(retry.delay(beforeRetry: counted))
                try conn.run("UPDATE tasks SET state = 'queued', not_before = ?, updated_at = ? WHERE id = ?", [notBefore, now, id])
                try TaskStore.queued(conn)
                return .requeued(notBefore: notBefore)
            }
            let final = "gave up after \(counted) attempts: \(reason)"
            try markFailed(conn, id, now: now, reason: final)
            return .failed(reason: Redactor.redactShapes(final))
        case .failed, .interrupted:
            try markFailed(conn, id, now: now, reason: reason)
            return .failed(reason: Redactor.redactShapes(reason))
        }
    }

    /// Attempts that count against the retry budget: the finished ones. Interrupted
    /// attempts have budgets of their own (a crash's) or none (a shutdown's).
    private static func countedAttempts(_ conn: any SQLConnection, _ id: String) throws -> Int {
        guard case .int(let n) = try conn.scalar("""
            SELECT COUNT(*) FROM attempts WHERE task_id = ?1 AND state = 'finished'
                AND number > (SELECT budget_from FROM tasks WHERE id = ?1)
            """, [id])
        else { return 0 }
        return Int(n)
    }

    private static func markFailed(_ conn: any SQLConnection, _ id: String, now: Date, reason: String) throws {
        try conn.run("UPDATE tasks SET state = 'failed', disposition = 'failure', final_reason = ?, updated_at = ? WHERE id = ?",
                     [Redactor.redactShapes(reason), now, id])
        try enqueue(conn, id, "finished", now: now)
    }

    /// Running → completed with `disposition` and the result (if any). `note` (e.g. a
    /// status/exit-code mismatch) is kept as the final reason, redacted.
    public func complete(taskID: String, disposition: Disposition, result: ResultEnvelope?, note: String? = nil) throws {
        let resultJSON = try result.map { try TaskStore.resultJSON($0) }
        try write { conn, now in
            _ = try TaskStore.requireRunningIdle(conn, taskID, "complete")
            try conn.run("""
                UPDATE tasks SET state = 'completed', disposition = ?, result = ?, final_reason = ?, updated_at = ?
                WHERE id = ?
                """, [disposition.rawValue, resultJSON, note.map(Redactor.redactShapes), now, taskID])
            try TaskStore.enqueue(conn, taskID, "finished", now: now)
        }
    }

    /// Running → queued, claimable from `notBefore` on. When a cancel was requested
    /// meanwhile, the task is cancelled instead. Returns the new state.
    @discardableResult
    public func requeue(taskID: String, notBefore: Date) throws -> TaskState {
        try write { conn, now in
            let t = try TaskStore.requireRunningIdle(conn, taskID, "requeue")
            if t.cancelRequested {
                try TaskStore.markCancelled(conn, taskID, now: now, reason: "cancelled while running")
                return .cancelled
            }
            try conn.run("UPDATE tasks SET state = 'queued', not_before = ?, updated_at = ? WHERE id = ?",
                         [notBefore, now, taskID])
            try TaskStore.queued(conn)
            return .queued
        }
    }

    /// Queued or running (no attempt in flight) → failed, disposition failure.
    /// `reason` is redacted of token shapes.
    public func fail(taskID: String, reason: String) throws {
        try write { conn, now in
            let t = try TaskStore.taskState(conn, taskID)
            switch t.state {
            case .queued: break
            case .running:
                if let n = try TaskStore.runningAttempt(conn, taskID) {
                    throw StoreError.invalidTransition(taskID: taskID, from: "running (attempt \(n) not finished)", operation: "fail")
                }
            default:
                throw StoreError.invalidTransition(taskID: taskID, from: t.state.rawValue, operation: "fail")
            }
            try TaskStore.markFailed(conn, taskID, now: now, reason: reason)
        }
    }

    /// Cancels a task. Queued (or running with its attempt already finished) → cancelled
    /// at once. With an attempt in flight the request is recorded and `.running` is
    /// returned: tear down the sandbox, `finishAttempt(... classification: .cancelled ...)`,
    /// then call `cancel` again.
    @discardableResult
    public func cancel(taskID: String) throws -> CancelResult {
        try write { conn, now in
            let t = try TaskStore.taskState(conn, taskID)
            switch t.state {
            case .completed, .failed, .cancelled:
                return .alreadyFinished(t.state)
            case .queued:
                try TaskStore.markCancelled(conn, taskID, now: now, reason: "cancelled before it ran")
                return .cancelled
            case .running:
                if let n = try TaskStore.runningAttempt(conn, taskID) {
                    try conn.run("UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ?", [now, taskID])
                    try conn.notify(StoreChannel.cancel, taskID)
                    return .running(attempt: n)
                }
                try TaskStore.markCancelled(conn, taskID, now: now, reason: "cancelled while running")
                return .cancelled
            }
        }
    }

    /// Cancels the task and queues its `finished` publication.
    static func markCancelled(_ conn: any SQLConnection, _ id: String, now: Date, reason: String) throws {
        try conn.run("""
            UPDATE tasks SET state = 'cancelled', disposition = 'cancelled', final_reason = ?, cancel_requested = 1, updated_at = ?
            WHERE id = ?
            """, [reason, now, id])
        try enqueue(conn, id, "finished", now: now)
    }

    /// Queues a finished task (completed, failed or cancelled) again under its id, in one
    /// transaction: its attempts are kept, numbering goes on from them, and its retry and
    /// crash budgets start afresh (only later attempts count); its outcome (disposition,
    /// reason, result) and any cancel request are cleared, it is claimable at once, and its
    /// `queued` publication is put in the outbox. A queued or running task is left alone.
    public func retry(taskID: String) throws -> RetryResult {
        try write { conn, now in
            let t = try TaskStore.taskState(conn, taskID)
            guard [.completed, .failed, .cancelled].contains(t.state) else { return .notFinished(t.state) }
            try conn.run("""
                UPDATE tasks SET state = 'queued', not_before = ?, updated_at = ?, disposition = NULL, final_reason = NULL,
                    result = NULL, cancel_requested = 0, budget_from = attempts, superseded_by = NULL, held_by = NULL
                WHERE id = ?
                """, [now, now, taskID])
            try TaskStore.enqueue(conn, taskID, "queued", now: now)
            try TaskStore.queued(conn)
            return .queued
        }
    }

    /// Whether a cancel was requested for a running task.
    public func isCancelRequested(taskID: String) throws -> Bool {
        try reading { conn in try TaskStore.taskState(conn, taskID).cancelRequested }
    }

    // MARK: - Recovery

    /// At start-up: every attempt still `running` belonged to a supervisor that was killed
    /// or crashed (a graceful shutdown records its torn-down attempts itself). Those
    /// attempts become `interrupted` by `crash`, and their tasks go back to the queue,
    /// unless the task has now been interrupted by crashes `maxCrashInterruptions` times:
    /// then it fails with "interrupted too often", so a task that kills the daemon cannot
    /// loop. That budget is the task's own: crashes never use up its retry budget, nor
    /// retries its crash budget. Tasks with a cancel request are cancelled. A running task
    /// whose last attempt had finished (written by a supervisor that recorded the two
    /// apart) is moved on from that attempt's stored verdict, as `recordAttempt` would
    /// have; a completed attempt without a stored result (schema version 1) is treated as
    /// retry-safe. Final states queue their `finished` publication.
    @discardableResult
    public func recoverInterrupted(maxCrashInterruptions: Int, retry: RetryPolicy = RetryPolicy()) throws -> [RecoveredTask] {
        // A shared store: this host's own attempts (it has just started, so they are
        // dead) and those whose lease ran out; other hosts' live attempts are theirs.
        try recover(isShared ? .ownOrExpired : .all, maxCrashInterruptions: maxCrashInterruptions, retry: retry)
    }

    /// In a fleet, periodically on every host: the attempts whose lease ran out (their
    /// host died, or was cut off or stopped for longer than a lease) become `interrupted`
    /// by `crash` and their tasks are retried within the crash budget, as
    /// `recoverInterrupted` does at a start. Their host's late finish is then refused
    /// (`StoreError.leaseLost`).
    @discardableResult
    public func recoverExpiredLeases(maxCrashInterruptions: Int, retry: RetryPolicy = RetryPolicy()) throws -> [RecoveredTask] {
        guard isShared else { return [] }
        return try recover(.expired, maxCrashInterruptions: maxCrashInterruptions, retry: retry)
    }

    private enum RecoveryScope { case all, ownOrExpired, expired }

    private func recover(_ scope: RecoveryScope, maxCrashInterruptions: Int, retry: RetryPolicy) throws -> [RecoveredTask] {
        let host = hostID
        return try write { conn, now in
            let which: String
            let params: [any SQLBindable]
            switch scope {
            case .all: which = "state = 'running'"; params = []
            case .ownOrExpired: which = "state = 'running' AND (host_id = ? OR lease_expires < ?)"; params = [host, now]
            case .expired: which = "state = 'running' AND lease_expires < ?"; params = [now]
            }
            // RETURNING: what this transaction interrupted, not what another host's did meanwhile.
            var interrupted: [String: Int] = [:]
            for r in try conn.query("""
                UPDATE attempts SET state = 'interrupted', interrupted_by = 'crash', classification = 'interrupted', ended_at = ?,
                    note = CASE WHEN host_id = ? OR lease_expires IS NULL THEN ? ELSE ? END
                WHERE \(which)
                RETURNING task_id, number
                """, [now, host, "the supervisor stopped while the attempt was running (killed or crashed)",
                      "its host stopped renewing the attempt's lease (died, cut off or stopped)"] + params) {
                if let id = r.string("task_id"), let n = r.int("number") { interrupted[id] = Int(n) }
            }
            // Single host: every running task is this host's. Shared: only the tasks of
            // the attempts just interrupted (another host's running task is its own).
            var tasks = scope == .all
                ? try conn.query("SELECT id, cancel_requested FROM tasks WHERE state = 'running' ORDER BY seq")
                : try interrupted.keys.sorted().compactMap {
                    try conn.query("SELECT id, cancel_requested FROM tasks WHERE id = ? AND state = 'running'", [$0]).first
                }
            if scope == .ownOrExpired {
                // This host's tasks whose last attempt had finished (recorded apart from the task).
                tasks += try conn.query("""
                    SELECT t.id AS id, t.cancel_requested AS cancel_requested FROM tasks t
                    WHERE t.state = 'running'
                      AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.task_id = t.id AND a.state = 'running')
                      AND (SELECT a.host_id FROM attempts a WHERE a.task_id = t.id ORDER BY a.number DESC LIMIT 1) = ?
                    ORDER BY t.seq
                    """, [host]).filter { interrupted[$0.string("id") ?? ""] == nil }
            }
            var recovered: [RecoveredTask] = []
            for r in tasks {
                guard let id = r.string("id") else { continue }
                let transition: TaskTransition
                let last = try conn.query("SELECT * FROM attempts WHERE task_id = ? ORDER BY number DESC LIMIT 1", [id]).first
                if (r.int("cancel_requested") ?? 0) != 0 {
                    try TaskStore.markCancelled(conn, id, now: now, reason: "cancelled while running")
                    transition = .cancelled
                } else if let last, last.string("state") == AttemptState.finished.rawValue,
                          var cls = last.string("classification").flatMap(AttemptClass.init(rawValue:)) {
                    var disposition = last.string("disposition").flatMap(Disposition.init(rawValue:))
                    if cls == .completed && disposition == nil { cls = .retrySafe }   // its result was not kept
                    if disposition == nil { disposition = cls == .cancelled ? .cancelled : .failure }
                    let result = try last.string("result").map { try TaskStore.decode(ResultEnvelope.self, $0, "result of an attempt of task \(id)") }
                    transition = try TaskStore.moveOn(conn, id, classification: cls, disposition: disposition ?? .failure,
                                                      result: result, reason: last.string("note") ?? cls.rawValue,
                                                      completionNote: nil, retry: retry, now: now)
                } else {
                    let crashes = try conn.scalar("""
                        SELECT COUNT(*) FROM attempts WHERE task_id = ?1 AND interrupted_by = 'crash'
                            AND number > (SELECT budget_from FROM tasks WHERE id = ?1)
                        """, [id])
                    let n = { if case .int(let n) = crashes { return Int(n) } else { return 0 } }()
                    if n >= maxCrashInterruptions {
                        try TaskStore.markFailed(conn, id, now: now,
                                                 reason: "interrupted too often: the supervisor died during \(n) of its attempts")
                        transition = .failed(reason: "interrupted too often")
                    } else {
                        try conn.run("UPDATE tasks SET state = 'queued', not_before = ?, updated_at = ? WHERE id = ?", [now, now, id])
                        try TaskStore.queued(conn)
                        transition = .requeued(notBefore: now)
                    }
                }
                recovered.append(RecoveredTask(taskID: id, interruptedAttempt: interrupted[id], state: transition.state))
            }
            return recovered
        }
    }

    // MARK: - Publication outbox

    /// The pending publication that has been due the longest (`not_before` ≤ now), read
    /// with its task; nil when none is due. A `finished` event carries the task's outcome
    /// as stored now.
    public func nextPublication(now: Date? = nil) throws -> PendingPublication? {
        let now = now ?? clock()
        return try read { conn in
            guard let row = try conn.query("""
                SELECT p.seq AS pub_seq, p.event AS pub_event, p.attempt AS pub_attempt, p.tries AS pub_tries,
                    \(TaskStore.lastExitReportColumn), t.*
                FROM publications p JOIN tasks t ON t.id = p.task_id
                WHERE p.not_before <= ? AND (p.claimed_until IS NULL OR p.claimed_until < ?)
                ORDER BY p.not_before, p.seq LIMIT 1
                """, [now, now]).first else { return nil }
            return try TaskStore.pendingPublication(row)
        }
    }

    /// Every pending publication (due or backing off), oldest first.
    public func pendingPublications(limit: Int = 1000) throws -> [PendingPublication] {
        try read { conn in
            try conn.query("""
                SELECT p.seq AS pub_seq, p.event AS pub_event, p.attempt AS pub_attempt, p.tries AS pub_tries,
                    \(TaskStore.lastExitReportColumn), t.*
                FROM publications p JOIN tasks t ON t.id = p.task_id ORDER BY p.seq LIMIT ?
                """, [max(0, limit)]).map(TaskStore.pendingPublication)
        }
    }

    /// How many publications wait in the outbox (at most one per task).
    public func pendingPublicationCount() throws -> Int {
        try reading { conn in
            guard case .int(let n) = try conn.scalar("SELECT COUNT(*) FROM publications") else { return 0 }
            return Int(n)
        }
    }

    /// The ids of the tasks with a pending publication.
    public func tasksWithPendingPublications() throws -> Set<String> {
        try reading { conn in Set(try conn.query("SELECT task_id FROM publications").compactMap { $0.string("task_id") }) }
    }

    /// When the next publication backing off becomes due; nil when the outbox is empty.
    public func nextPublicationDueDate() throws -> Date? {
        try reading { conn in
            try conn.query("""
                SELECT MIN(CASE WHEN claimed_until > not_before THEN claimed_until ELSE not_before END) AS t FROM publications
                """).first?.date("t")
        }
    }

    /// The publication was delivered: removes exactly it (a newer event of its task that
    /// replaced it meanwhile stays).
    /// `taskID` (the publication's task) frees a newer event of the task that replaced it
    /// while it was being delivered (`takePublication`): it may go now.
    public func publicationDelivered(seq: Int64, taskID: String? = nil) throws {
        try write { conn, _ in
            if let taskID { try conn.run("UPDATE publications SET claimed_until = NULL WHERE task_id = ?", [taskID]) }
            try conn.run("DELETE FROM publications WHERE seq = ?", [seq])
        }
    }

    /// The publication is to be tried again from `until` on; `error` (redacted) is kept.
    public func publicationDeferred(seq: Int64, until: Date, error: String, taskID: String? = nil) throws {
        try write { conn, _ in
            if let taskID { try conn.run("UPDATE publications SET claimed_until = NULL WHERE task_id = ?", [taskID]) }
            _ = try conn.run("""
                UPDATE publications SET tries = tries + 1, not_before = ?, last_error = ?, claimed_until = NULL WHERE seq = ?
                """, [until, Redactor.redactShapes(error), seq])
        }
    }

    /// Ends every backoff: at start, and once the far end answers again.
    public func makePublicationsDue() throws {
        try write { conn, now in _ = try conn.run("UPDATE publications SET not_before = ? WHERE not_before > ?", [now, now]) }
    }

    /// The exit report of the task's last attempt, for a `finished` event: a task whose last
    /// attempt timed out is published as timed out, not merely failed.
    static let lastExitReportColumn = """
        (SELECT a.exit_report FROM attempts a WHERE a.task_id = t.id ORDER BY a.number DESC LIMIT 1) AS last_exit_report
        """

    /// One publication with its task, by `seq`.
    static func publication(_ conn: any SQLConnection, seq: Int64) throws -> PendingPublication? {
        try conn.query("""
            SELECT p.seq AS pub_seq, p.event AS pub_event, p.attempt AS pub_attempt, p.tries AS pub_tries,
                \(TaskStore.lastExitReportColumn), t.*
            FROM publications p JOIN tasks t ON t.id = p.task_id WHERE p.seq = ?
            """, [seq]).first.map(TaskStore.pendingPublication)
    }

    private static func pendingPublication(_ row: SQLRow) throws -> PendingPublication {
        let record = try taskRecord(row)
        let lastExit = try row.string("last_exit_report").map {
            try decode(ExitReport.self, $0, "exit report of the last attempt of task \(record.id)")
        }
        let event: PublicationEvent
        let coalesced = record.coalescedTriggers
        switch row.string("pub_event") {
        case "queued": event = .queued(record.spec, coalesced: coalesced, waitingFor: record.heldBy)
        case "started": event = .started(record.spec, attempt: Int(row.int("pub_attempt") ?? Int64(record.attemptCount)),
                                         coalesced: coalesced)
        case "finished":
            var outcome = TaskOutcome(state: record.state, disposition: record.disposition ?? .failure, result: record.result,
                                      reason: record.state == .completed ? nil : record.finalReason,
                                      timedOut: lastExit?.exitClass == .timedOut)
            outcome.coalescedTriggers = coalesced
            outcome.supersededBy = record.supersededBy
            event = .finished(record.spec, outcome)
        default: throw StoreError.corrupt("publication event of task \(record.id)")
        }
        return PendingPublication(seq: row.int("pub_seq") ?? 0, event: event, tries: Int(row.int("pub_tries") ?? 0))
    }

    // MARK: - Queries

    /// The task with its attempts (oldest first), or nil.
    public func task(id: String) throws -> TaskDetail? {
        try read { conn in
            guard let row = try conn.query("SELECT * FROM tasks WHERE id = ?", [id]).first else { return nil }
            let record = try TaskStore.taskRecord(row)
            let attempts = try conn.query("SELECT * FROM attempts WHERE task_id = ? ORDER BY number", [id]).map(TaskStore.attemptRecord)
            return TaskDetail(record: record, attempts: attempts)
        }
    }

    /// Whether a task with this id is stored.
    public func taskExists(id: String) throws -> Bool {
        try reading { conn in try conn.scalar("SELECT COUNT(*) FROM tasks WHERE id = ?", [id]) == .int(1) }
    }

    /// One attempt of a task (its output tails included), or nil.
    public func attempt(taskID: String, number: Int) throws -> AttemptRecord? {
        try reading { conn in
            try conn.query("SELECT * FROM attempts WHERE task_id = ? AND number = ?", [taskID, number]).first.map(TaskStore.attemptRecord)
        }
    }

    /// The attempts of each of `taskIDs` without their output and egress log (for lists),
    /// oldest first; tasks without attempts are left out.
    public func attemptSummaries(taskIDs: [String]) throws -> [String: [AttemptRecord]] {
        guard !taskIDs.isEmpty else { return [:] }
        return try reading { conn in
            var out: [String: [AttemptRecord]] = [:]
            // In slices: SQLite caps the number of parameters of one statement.
            for start in stride(from: 0, to: taskIDs.count, by: 500) {
                let slice = Array(taskIDs[start..<min(taskIDs.count, start + 500)])
                let marks = slice.map { _ in "?" }.joined(separator: ",")
                let rows = try conn.query("""
                    SELECT task_id, number, state, started_at, ended_at, exit_report, classification, note, interrupted_by,
                        disposition, stdout_bytes, stderr_bytes, NULL AS stdout_tail, 0 AS stdout_truncated,
                        NULL AS stderr_tail, 0 AS stderr_truncated, NULL AS egress_log, NULL AS result
                    FROM attempts WHERE task_id IN (\(marks)) ORDER BY task_id, number
                    """, slice)
                for r in rows {
                    let a = try TaskStore.attemptRecord(r)
                    out[a.taskID, default: []].append(a)
                }
            }
            return out
        }
    }

    /// The state of one attempt (no output read), or nil when there is no such attempt.
    public func attemptState(taskID: String, number: Int) throws -> AttemptState? {
        try reading { conn in
            guard case .text(let s) = try conn.scalar("SELECT state FROM attempts WHERE task_id = ? AND number = ?", [taskID, number])
            else { return nil }
            return AttemptState(rawValue: s)
        }
    }

    /// Tasks, newest first, optionally only those in `state`.
    /// Tasks newest first, optionally of one state and one repository (`owner`/`name`).
    public func list(state: TaskState? = nil, repo: (owner: String, name: String)? = nil, limit: Int = 100) throws -> [TaskRecord] {
        var conditions: [String] = []
        var values: [any SQLBindable] = []
        if let state { conditions.append("state = ?"); values.append(state.rawValue) }
        if let repo {
            // An operator's filter: a scan of the newest rows is fine, no index needed.
            let dialect = backend.dialect
            conditions.append("\(dialect.jsonText("spec", ["repo", "owner"])) = ? AND \(dialect.jsonText("spec", ["repo", "name"])) = ?")
            values += [repo.owner, repo.name]
        }
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        values.append(max(0, limit))
        return try reading { conn in
            try conn.query("SELECT * FROM tasks" + whereClause + " ORDER BY seq DESC LIMIT ?", values).map(TaskStore.taskRecord)
        }
    }

    /// Number of tasks in each state (every state present, zero included).
    public func counts() throws -> [TaskState: Int] {
        try reading { conn in
            var out = Dictionary(uniqueKeysWithValues: TaskState.allCases.map { ($0, 0) })
            for r in try conn.query("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state") {
                if let s = r.string("state").flatMap(TaskState.init(rawValue:)) { out[s] = Int(r.int("n") ?? 0) }
            }
            return out
        }
    }

    /// Number of attempts by classification ("completed", "retry_safe", "failed",
    /// "cancelled", "interrupted"); attempts still in flight count as "running".
    public func attemptCounts() throws -> [String: Int] {
        try reading { conn in
            var out: [String: Int] = [:]
            for r in try conn.query("SELECT COALESCE(classification, state) AS k, COUNT(*) AS n FROM attempts GROUP BY k") {
                if let k = r.string("k") { out[k] = Int(r.int("n") ?? 0) }
            }
            return out
        }
    }

    /// True when the database answers a trivial query on the connection that writes.
    public func isHealthy() -> Bool {
        backend.isHealthy()
    }

    static func taskRecord(_ r: SQLRow) throws -> TaskRecord {
        let id = r.string("id") ?? "?"
        let spec = try decode(TaskSpec.self, r.string("spec"), "spec of task \(id)")
        guard let state = r.string("state").flatMap(TaskState.init(rawValue:)) else { throw StoreError.corrupt("state of task \(id)") }
        let result = try r.string("result").map { try decodeResult($0, "result of task \(id)") }
        return TaskRecord(spec: spec, state: state,
                          createdAt: r.date("created_at") ?? .distantPast, updatedAt: r.date("updated_at") ?? .distantPast,
                          notBefore: r.date("not_before") ?? .distantPast, attemptCount: Int(r.int("attempts") ?? 0),
                          cancelRequested: (r.int("cancel_requested") ?? 0) != 0,
                          disposition: r.string("disposition").flatMap(Disposition.init(rawValue:)),
                          finalReason: r.string("final_reason"), result: result,
                          coalescedTriggers: Int(r.int("coalesced") ?? 0), queuedAfter: r.string("after_task"),
                          supersededBy: r.string("superseded_by"), heldBy: r.string("held_by"))
    }

    private static func attemptRecord(_ r: SQLRow) throws -> AttemptRecord {
        let id = r.string("task_id") ?? "?"
        let number = Int(r.int("number") ?? 0)
        guard let state = r.string("state").flatMap(AttemptState.init(rawValue:)) else {
            throw StoreError.corrupt("state of attempt \(number) of task \(id)")
        }
        let report = try r.string("exit_report").map { try decode(ExitReport.self, $0, "exit report of attempt \(number) of task \(id)") }
        return AttemptRecord(
            taskID: id, number: number, state: state,
            startedAt: r.date("started_at") ?? .distantPast, endedAt: r.date("ended_at"),
            exitReport: report, classification: r.string("classification").flatMap(AttemptClass.init(rawValue:)),
            note: r.string("note"),
            stdout: RedactedOutput(data: r.data("stdout_tail") ?? Data(), truncated: (r.int("stdout_truncated") ?? 0) != 0,
                                   originalByteCount: Int(r.int("stdout_bytes") ?? 0)),
            stderr: RedactedOutput(data: r.data("stderr_tail") ?? Data(), truncated: (r.int("stderr_truncated") ?? 0) != 0,
                                   originalByteCount: Int(r.int("stderr_bytes") ?? 0)),
            egressLog: r.string("egress_log"),
            interruptedBy: r.string("interrupted_by").flatMap(AttemptInterruption.init(rawValue:)),
            disposition: r.string("disposition").flatMap(Disposition.init(rawValue:)),
            result: try r.string("result").map { try decodeResult($0, "result of attempt \(number) of task \(id)") })
    }
}
