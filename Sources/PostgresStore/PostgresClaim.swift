import Foundation
import Supervisor

/// The fleet's claim: hosts claim at once, and `FOR UPDATE SKIP LOCKED` keeps them out of
/// each other's way instead of making them wait.
extension PostgresBackend {
    /// Within one transaction:
    /// 1. the fleet-wide limit, if set (an advisory lock orders the claims that count it)
    ///    and this host's own limit, counted on `attempts_host`;
    /// 2. the installations with a task past its backoff, by turn (oldest claim first):
    ///    one seek of `tasks_claim` each, never a scan of the queue;
    /// 3. for each in turn: its `installation_turns` row, locked `SKIP LOCKED` (another
    ///    host claiming for that installation right now: the next one), so the count of
    ///    its running tasks that follows holds fleet-wide; its limits; then its first
    ///    claimable task, locked `SKIP LOCKED`. (A task queued after another looks that one
    ///    up by id: a correlated lookup, where `NOT EXISTS` under the `OR` is planned as a
    ///    hashed subplan over every live task.)
    package func claim(_ request: ClaimRequest, store: TaskStore) throws -> ClaimedTask? {
        let host = hostID
        return try store.write { conn, now -> ClaimedTask? in
            if let fleet = request.fleetLimit {
                try conn.query("SELECT pg_advisory_xact_lock(7363102)", [])
                guard let all = try conn.scalar("SELECT COUNT(*) FROM attempts WHERE state = 'running'").intValue,
                      all < Int64(fleet) else { return nil }
            }
            guard let mine = try conn.scalar("SELECT COUNT(*) FROM attempts WHERE host_id = ? AND state = 'running'",
                                             [host]).intValue, mine < Int64(request.hostLimit) else { return nil }
            let day = UsageDay.string(now)
            let turns = try conn.query("""
                SELECT r.installation_key AS ikey FROM installation_turns r
                WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.installation_key = r.installation_key
                              AND t.state = 'queued' AND t.not_before <= ?)
                ORDER BY r.last_claim, r.installation_key LIMIT 64
                """, [now])
            for turn in turns {
                guard let ikey = turn.int("ikey"),
                      try !conn.query("SELECT 1 FROM installation_turns WHERE installation_key = ? FOR UPDATE SKIP LOCKED",
                                      [ikey]).isEmpty else { continue }
                let limits = request.limits[ikey]
                let cap = limits?.maxConcurrent ?? request.perInstallationLimit
                guard let running = try conn.scalar("SELECT COUNT(*) FROM tasks WHERE installation_key = ? AND state = 'running'",
                                                    [ikey]).intValue, running < Int64(cap) else { continue }
                if let minutes = limits?.maxAttemptMinutesPerDay {
                    let wall = try conn.query("SELECT wall_seconds FROM installation_usage WHERE installation_id = ? AND day = ?",
                                              [ikey, day]).first?.double("wall_seconds") ?? 0
                    if wall >= Double(minutes) * 60 { continue }
                }
                guard let row = try conn.query("""
                    SELECT t.id AS id, t.spec AS spec, t.attempts AS attempts, t.installation_id AS installation_id
                    FROM tasks t
                    WHERE t.installation_key = ? AND t.state = 'queued' AND t.not_before <= ?
                      AND (t.after_task IS NULL OR COALESCE(
                           (SELECT prev.state FROM tasks prev WHERE prev.id = t.after_task), 'gone') NOT IN ('queued','running'))
                    ORDER BY t.seq LIMIT 1 FOR UPDATE OF t SKIP LOCKED
                    """, [ikey, now]).first, let id = row.string("id") else { continue }
                let spec = try TaskStore.decode(TaskSpec.self, row.string("spec"), "spec of task \(id)")
                let attempt = try store.markClaimed(
                    conn, taskID: id, attemptsSoFar: row.int("attempts") ?? 0, installationKey: ikey,
                    installationID: row.int("installation_id"), now: now)
                return ClaimedTask(spec: spec, attempt: attempt)
            }
            return nil
        }
    }
}
