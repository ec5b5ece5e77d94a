import Foundation
import Sandbox

extension AttemptUsage {
    /// An attempt's measurements from its exit report (nothing when no sandbox ran).
    public init(report: ExitReport?, egressBytes: UInt64?) {
        self.init(wallSeconds: report?.wallTime ?? 0, cpuSeconds: report?.cpuTime ?? 0,
                  peakMemoryBytes: report?.peakMemoryBytes ?? 0, egressBytes: egressBytes ?? 0)
    }
}

/// Per-installation admission, usage and purge (schema version 5).
extension TaskStore {
    /// The admission of a new task under its installation's limits, in the inserting
    /// transaction (so two deliveries at once cannot both take the last slot of a day):
    ///
    /// - `max_attempt_minutes_per_day` already used up today: refused, or held (the claim
    ///   starts nothing of the installation until tomorrow's usage has room);
    /// - `max_tasks_per_day`: counted on the first day with room, from today. Refusing:
    ///   only today counts, and a full day refuses. Queueing: a later day holds the task
    ///   until that day's midnight (UTC);
    /// - `max_concurrent` attempts already running: held (the claim waits for a slot);
    ///   never refused.
    static func admit(_ conn: any SQLConnection, _ task: TaskSpec, _ limits: InstallationLimits, now: Date) throws
        -> (admission: Admission, notBefore: Date?) {
        guard let installation = task.installationID else { return (.admitted(heldBy: nil), nil) }
        let today = UsageDay.string(now)
        let refuse = limits.overLimit == .refuse
        var held: String?
        if let minutes = limits.maxAttemptMinutesPerDay,
           try usageRow(conn, installation, today).wallSeconds >= Double(minutes) * 60 {
            let what = "max_attempt_minutes_per_day (\(minutes)) reached today"
            if refuse { return (.refused(reason: "refused: installation \(installation) \(what)"), nil) }
            held = what + "; attempts start again tomorrow (UTC)"
        }
        var notBefore: Date?
        if let max = limits.maxTasksPerDay {
            var offset = 0
            while try usageRow(conn, installation, UsageDay.string(UsageDay.start(of: now, addingDays: offset))).tasks >= max {
                if refuse {
                    return (.refused(reason: "refused: installation \(installation) reached max_tasks_per_day (\(max)) today"), nil)
                }
                offset += 1
            }
            let day = UsageDay.start(of: now, addingDays: offset)
            try addUsage(conn, installation: installation, day: UsageDay.string(day), tasks: 1)
            if offset > 0 {
                notBefore = day
                held = held ?? "max_tasks_per_day (\(max)) reached; the task starts on \(UsageDay.string(day)) (UTC)"
            }
        }
        if held == nil, let max = limits.maxConcurrent,
           case .int(let running) = try conn.scalar("SELECT COUNT(*) FROM tasks WHERE installation_key = ? AND state = 'running'",
                                                    [installation]),
           running >= Int64(max) {
            held = "max_concurrent (\(max)) attempts are running for this installation; it starts when one ends"
        }
        return (.admitted(heldBy: held), notBefore)
    }

    /// The claim's view of the limits: `{"<installation>": {"c": max_concurrent, "w": wall seconds per day}}`.
    static func claimLimitsJSON(_ limits: [Int64: InstallationLimits]) -> String {
        var o: [String: JSONValue] = [:]
        for (id, l) in limits {
            var e: [String: JSONValue] = [:]
            if let c = l.maxConcurrent { e["c"] = .number(Double(c)) }
            if let m = l.maxAttemptMinutesPerDay { e["w"] = .number(Double(m) * 60) }
            if !e.isEmpty { o[String(id)] = .object(e) }
        }
        return JSONValue.object(o).description
    }

    static func usageRow(_ conn: any SQLConnection, _ installation: Int64, _ day: String) throws -> InstallationUsage {
        try conn.query("SELECT * FROM installation_usage WHERE installation_id = ? AND day = ?", [installation, day])
            .first.map(usage) ?? InstallationUsage(installationID: installation, day: day)
    }

    private static func usage(_ r: SQLRow) -> InstallationUsage {
        InstallationUsage(installationID: r.int("installation_id") ?? 0, day: r.string("day") ?? "",
                          tasks: Int(r.int("tasks") ?? 0), attempts: Int(r.int("attempts") ?? 0),
                          wallSeconds: r.double("wall_seconds") ?? 0, cpuSeconds: r.double("cpu_seconds") ?? 0,
                          peakMemoryBytes: UInt64(max(0, r.int("peak_memory_bytes") ?? 0)),
                          egressBytes: UInt64(max(0, r.int("egress_bytes") ?? 0)))
    }

    /// Adds to one installation's day (creating the row).
    static func addUsage(_ conn: any SQLConnection, installation: Int64, day: String, tasks: Int = 0, attempts: Int = 0,
                         _ used: AttemptUsage = AttemptUsage()) throws {
        try conn.run("""
            INSERT INTO installation_usage AS u (installation_id, day, tasks, attempts, wall_seconds, cpu_seconds,
                                            peak_memory_bytes, egress_bytes)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            ON CONFLICT (installation_id, day) DO UPDATE SET
                tasks = u.tasks + ?3, attempts = u.attempts + ?4, wall_seconds = u.wall_seconds + ?5,
                cpu_seconds = u.cpu_seconds + ?6,
                peak_memory_bytes = CASE WHEN u.peak_memory_bytes > ?7 THEN u.peak_memory_bytes ELSE ?7 END,
                egress_bytes = u.egress_bytes + ?8
            """, [installation, day, tasks, attempts, used.wallSeconds, used.cpuSeconds,
                  Int64(clamping: used.peakMemoryBytes), Int64(clamping: used.egressBytes)])
    }

    /// Adds an ended attempt's measurements to its installation's day (that of its end).
    static func addAttemptUsage(_ conn: any SQLConnection, taskID: String, _ used: AttemptUsage, now: Date) throws {
        guard used != AttemptUsage(),
              case .int(let installation) = try conn.scalar("SELECT installation_id FROM tasks WHERE id = ?", [taskID])
        else { return }
        try addUsage(conn, installation: installation, day: UsageDay.string(now), used)
    }

    /// One installation's usage, newest day first, at most `days` days.
    public func usage(installationID: Int64, days: Int = 30) throws -> [InstallationUsage] {
        try reading { conn in
            try conn.query("SELECT * FROM installation_usage WHERE installation_id = ? ORDER BY day DESC LIMIT ?",
                           [installationID, max(0, days)]).map(TaskStore.usage)
        }
    }

    /// Every installation's usage on `day` (default: today, UTC), by installation id.
    public func usage(on day: String? = nil) throws -> [InstallationUsage] {
        let d = day ?? UsageDay.string(Date())
        return try reading { conn in
            try conn.query("SELECT * FROM installation_usage WHERE day = ? ORDER BY installation_id", [d]).map(TaskStore.usage)
        }
    }

    /// The tasks of one issue or pull request (`owner/name#number`, any familiar), newest
    /// first: what a maintainer's command acts on.
    public func tasks(onTarget repo: String, number: Int, limit: Int = 50) throws -> [TaskRecord] {
        let prefix = "\(repo.lowercased())#\(number):"
        return try reading { conn in
            try conn.query("""
                SELECT * FROM tasks WHERE substr(coalesce_key, 1, length(?1)) = ?1 ORDER BY seq DESC LIMIT ?2
                """, [prefix, max(0, limit)]).map(TaskStore.taskRecord)
        }
    }

    /// Live (queued or running) tasks of an installation, oldest first.
    public func liveTaskIDs(installationID: Int64) throws -> [String] {
        try reading { conn in
            try conn.query("SELECT id FROM tasks WHERE installation_id = ? AND state IN ('queued','running') ORDER BY seq",
                           [installationID]).compactMap { $0.string("id") }
        }
    }

    /// Removes everything kept of an installation (the App was uninstalled): its tasks with
    /// their attempts (and output tails) and pending publications, its deliveries and its
    /// usage; one transaction. Running attempts should be cancelled first: recording them
    /// afterwards finds no task.
    public func purgeInstallation(_ installationID: Int64) throws -> InstallationPurge {
        try write { conn, _ in
            var p = InstallationPurge()
            func count(_ sql: String) throws -> Int {
                guard case .int(let n) = try conn.scalar(sql, [installationID]) else { return 0 }
                return Int(n)
            }
            let ofTasks = "SELECT id FROM tasks WHERE installation_id = ?1"
            p.attempts = try count("SELECT COUNT(*) FROM attempts WHERE task_id IN (\(ofTasks))")
            p.publications = try count("SELECT COUNT(*) FROM publications WHERE task_id IN (\(ofTasks))")
            p.deliveries = try conn.run("DELETE FROM deliveries WHERE installation_id = ?1 OR task_id IN (\(ofTasks))",
                                        [installationID])
            try conn.run("DELETE FROM attempts WHERE task_id IN (\(ofTasks))", [installationID])
            try conn.run("DELETE FROM publications WHERE task_id IN (\(ofTasks))", [installationID])
            p.tasks = try conn.run("DELETE FROM tasks WHERE installation_id = ?1", [installationID])
            try conn.run("DELETE FROM installation_turns WHERE installation_key = ?1", [installationID])
            p.usageDays = try conn.run("DELETE FROM installation_usage WHERE installation_id = ?1", [installationID])
            return p
        }
    }
}
