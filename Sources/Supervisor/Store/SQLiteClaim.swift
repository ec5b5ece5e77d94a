import Foundation

/// The SQLite claim: one writer at a time (the group committer) makes it atomic.
extension SQLiteBackend {
    /// Eligible: queued, `not_before` passed, fewer than the installation's limit of
    /// running tasks; nothing is claimed when the host's limit of tasks run.
    /// Among eligible tasks the installation whose latest claim is oldest goes first
    /// (never-claimed installations before all others), FIFO within an installation;
    /// local-mode tasks (no installation) count as one installation.
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
    package func claim(_ request: ClaimRequest, store: TaskStore) throws -> ClaimedTask? {
        let limitsJSON = request.limitsJSON
        let candidate: (seq: Int64, turn: Int64, spec: TaskSpec)? = try reading { conn in
            let now = store.now
            guard case .int(let running) = try conn.scalar(SQLiteBackend.runningCountSQL), running < Int64(request.hostLimit),
                  let pick = try conn.query(SQLiteBackend.claimSQL,
                                            [now, request.perInstallationLimit, limitsJSON, UsageDay.string(now)]).first,
                  let seq = pick.int("first_seq"), let turn = pick.int("last_claim"),
                  let row = try conn.query("SELECT id, spec FROM tasks WHERE seq = ?", [seq]).first,
                  let id = row.string("id") else { return nil }
            return (seq, turn, try TaskStore.decode(TaskSpec.self, row.string("spec"), "spec of task \(id)"))
        }
        guard let candidate else { return nil }
        return try store.write { conn, now -> ClaimedTask? in
            guard case .int(let running) = try conn.scalar(SQLiteBackend.runningCountSQL),
                  running < Int64(request.hostLimit) else { return nil }
            let day = UsageDay.string(now)
            let pick = try conn.query(SQLiteBackend.claimUpToTurnSQL,
                                      [now, request.perInstallationLimit, limitsJSON, day, candidate.turn]).first
                ?? conn.query(SQLiteBackend.claimSQL, [now, request.perInstallationLimit, limitsJSON, day]).first
            guard let pick, let seq = pick.int("first_seq"),
                  let row = try conn.query("SELECT id, spec, attempts, installation_id FROM tasks WHERE seq = ?", [seq]).first,
                  let id = row.string("id") else { return nil }
            let spec = seq == candidate.seq
                ? candidate.spec : try TaskStore.decode(TaskSpec.self, row.string("spec"), "spec of task \(id)")
            let attempt = try store.markClaimed(
                conn, taskID: id, attemptsSoFar: row.int("attempts") ?? 0, installationKey: pick.int("ikey") ?? -1,
                installationID: row.int("installation_id"), now: now)
            return ClaimedTask(spec: spec, attempt: attempt)
        }
    }

    static let runningCountSQL = "SELECT COUNT(*) FROM tasks WHERE state = 'running'"

    /// The installation whose turn it is and its first claimable task: per installation
    /// (one `installation_turns` row each) one seek for the oldest queued task past its
    /// backoff and one count of its running tasks, both on `tasks_claim`; never a scan
    /// of the queue. A task queued after another (same work, new instructions) waits until
    /// that one has ended: one lookup by id. An installation's own `max_concurrent` replaces
    /// the default, and one past its attempt minutes today starts nothing (one usage
    /// lookup by key). Parameters: now, the per-installation default, the installations'
    /// limits (`claimLimitsJSON`), today (UTC).
    static let claimSQL = claimSQL(turnBound: false)

    /// `claimSQL` among the installations whose latest claim is no later than ?5 only.
    /// Turns are ordered first, so when this finds a task it is the one `claimSQL` finds.
    static let claimUpToTurnSQL = claimSQL(turnBound: true)

    private static func claimSQL(turnBound: Bool) -> String {
        """
        SELECT ikey, first_seq, last_claim FROM (
            SELECT r.installation_key AS ikey, r.last_claim AS last_claim,
                (SELECT t.seq FROM tasks t
                 WHERE t.installation_key = r.installation_key AND t.state = 'queued' AND t.not_before <= ?1
                   AND (t.after_task IS NULL OR NOT EXISTS (
                        SELECT 1 FROM tasks prev WHERE prev.id = t.after_task AND prev.state IN ('queued','running')))
                 ORDER BY t.seq LIMIT 1) AS first_seq,
                (SELECT COUNT(*) FROM tasks x
                 WHERE x.installation_key = r.installation_key AND x.state = 'running') AS running,
                (SELECT json_extract(l.value, '$.c') FROM json_each(?3) l WHERE l.key = CAST(r.installation_key AS TEXT))
                    AS max_running,
                (SELECT json_extract(l.value, '$.w') FROM json_each(?3) l WHERE l.key = CAST(r.installation_key AS TEXT))
                    AS max_wall,
                (SELECT u.wall_seconds FROM installation_usage u
                 WHERE u.installation_id = r.installation_key AND u.day = ?4) AS wall
            FROM installation_turns r\(turnBound ? " WHERE r.last_claim <= ?5" : ""))
        WHERE first_seq IS NOT NULL AND running < IFNULL(max_running, ?2)
          AND (max_wall IS NULL OR IFNULL(wall, 0) < max_wall)
        ORDER BY last_claim ASC, first_seq ASC
        LIMIT 1
        """
    }

    /// `EXPLAIN QUERY PLAN` of `claimSQL`, one detail line per step (for tests).
    func claimQueryPlan() throws -> [String] {
        try reading { conn in
            try conn.query("EXPLAIN QUERY PLAN " + SQLiteBackend.claimSQL,
                           [Date(), 1, #"{"1":{"c":2,"w":60}}"#, UsageDay.string(Date())])
                .map { $0.string("detail") ?? "" }
        }
    }
}
