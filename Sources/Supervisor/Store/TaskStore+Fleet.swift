import Foundation

/// What hosts sharing a store tell each other (PostgreSQL `NOTIFY` channels).
public enum StoreChannel {
    /// A task may be claimable: wake the dispatchers.
    public static let queue = "coven_queue"
    /// A cancel was requested for a running task (payload: its id).
    public static let cancel = "coven_cancel"
    /// The outbox has a publication.
    public static let outbox = "coven_outbox"
    public static let all = [queue, cancel, outbox]
}

/// One attempt of one task.
public struct AttemptKey: Hashable, Sendable, CustomStringConvertible {
    public var taskID: String
    public var number: Int
    public init(taskID: String, number: Int) { self.taskID = taskID; self.number = number }
    public var description: String { "\(taskID)#\(number)" }
}

/// What a heartbeat learnt.
public struct LeaseRenewal: Sendable, Equatable {
    /// This host's running attempts whose leases were renewed: any other attempt it
    /// believes it runs was taken over, and its finish will be refused.
    public var held: Set<AttemptKey> = []
    /// Tasks of `held` with a cancel request (a notification lost, or sent while this
    /// host was cut off).
    public var cancelRequested: Set<String> = []
}

extension TaskStore {
    /// Notifications from the other hosts sharing the store (nil: none can send any).
    func subscribe(_ handler: @escaping @Sendable (_ channel: String, _ payload: String) -> Void) throws
        -> (any StoreSubscription)? {
        try backend.subscribe(handler)
    }

    /// Why a finish of `attempt` changed nothing: the task is unknown, the attempt was
    /// taken over (its lease ran out), or it is simply not running.
    static func refusal(_ conn: any SQLConnection, _ taskID: String, _ attempt: Int, host: String) throws -> StoreError {
        _ = try taskState(conn, taskID)   // taskNotFound first
        guard let row = try conn.query("SELECT state, host_id, lease_expires FROM attempts WHERE task_id = ? AND number = ?",
                                       [taskID, attempt]).first else {
            return .attemptNotRunning(taskID: taskID, attempt: attempt)
        }
        let heldHere = row.string("host_id").map { $0 == host } ?? true
        if !heldHere || (row.string("state") == AttemptState.interrupted.rawValue && row.double("lease_expires") != nil) {
            return .leaseLost(taskID: taskID, attempt: attempt)
        }
        return .attemptNotRunning(taskID: taskID, attempt: attempt)
    }

    /// Renews the leases of this host's running attempts (a heartbeat), and reports which
    /// it still holds and which of them have a cancel request. Nothing for a store only
    /// one host uses.
    public func renewLeases() throws -> LeaseRenewal {
        guard let lease = backend.leaseDuration else { return LeaseRenewal() }
        let host = hostID
        return try write { conn, now in
            try conn.run("UPDATE attempts SET lease_expires = ? WHERE host_id = ? AND state = 'running'",
                         [now.addingTimeInterval(lease), host])
            // The publications it is delivering too: a dead host's go to another within a lease.
            try conn.run("UPDATE publications SET claimed_until = ? WHERE claimed_by = ? AND claimed_until IS NOT NULL",
                         [now.addingTimeInterval(lease), host])
            var out = LeaseRenewal()
            for r in try conn.query("""
                SELECT a.task_id AS task_id, a.number AS number, t.cancel_requested AS cancel_requested
                FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.host_id = ? AND a.state = 'running'
                """, [host]) {
                guard let id = r.string("task_id"), let n = r.int("number") else { continue }
                out.held.insert(AttemptKey(taskID: id, number: Int(n)))
                if (r.int("cancel_requested") ?? 0) != 0 { out.cancelRequested.insert(id) }
            }
            return out
        }
    }

    /// The host holding a running attempt and when its lease ends (nil lease: one host).
    public func lease(of key: AttemptKey) throws -> (host: String, expires: Date?)? {
        try reading { conn in
            try conn.query("SELECT host_id, lease_expires FROM attempts WHERE task_id = ? AND number = ? AND state = 'running'",
                           [key.taskID, key.number]).first.map { ($0.string("host_id") ?? "", $0.date("lease_expires")) }
        }
    }

    // MARK: - The outbox across hosts

    /// The next due publication, taken for this host when the store is shared: for one
    /// lease (`claim` seconds when given), renewed by the host's heartbeat while it
    /// delivers, so no other host takes it, or a newer event of its task, meanwhile (a
    /// task's events go out in order, from one host at a time), and a dead host's claim
    /// runs out within a lease. On a store only one host uses, the same as `nextPublication`.
    public func takePublication(claim: TimeInterval? = nil) throws -> PendingPublication? {
        guard let lease = backend.leaseDuration else { return try nextPublication() }
        let claim = claim ?? lease
        let host = hostID
        let skip = backend.dialect.name == "postgres" ? " FOR UPDATE SKIP LOCKED" : ""
        return try write { conn, now -> PendingPublication? in
            guard let seq = try conn.query("""
                SELECT seq FROM publications WHERE not_before <= ? AND (claimed_until IS NULL OR claimed_until < ?)
                ORDER BY not_before, seq LIMIT 1\(skip)
                """, [now, now]).first?.int("seq") else { return nil }
            try conn.run("UPDATE publications SET claimed_until = ?, claimed_by = ? WHERE seq = ?",
                         [now.addingTimeInterval(claim), host, seq])
            return try TaskStore.publication(conn, seq: seq)
        }
    }

    /// At a start: the claims this host held when it stopped (killed while delivering) are
    /// its own to take again at once.
    public func releaseOwnPublicationClaims() throws {
        guard isShared else { return }
        let host = hostID
        try write { conn, _ in
            try conn.run("UPDATE publications SET claimed_until = NULL WHERE claimed_by = ?", [host])
        }
    }

    /// A taken publication goes back (this host stops before it was delivered).
    public func releasePublication(taskID: String) throws {
        try write { conn, _ in
            try conn.run("UPDATE publications SET claimed_until = NULL WHERE task_id = ?", [taskID])
            try conn.notify(StoreChannel.outbox, "")
        }
    }

    // MARK: - Check Run ids

    /// The Check Run created for a task, if any: whichever host publishes the task's next
    /// event updates it instead of creating a second.
    public func checkRunID(taskID: String) throws -> Int64? {
        try reading { conn in
            try conn.query("SELECT check_run_id FROM publication_refs WHERE task_id = ?", [taskID]).first?.int("check_run_id")
        }
    }

    /// Keeps the Check Run id of a task.
    public func setCheckRun(_ id: Int64, taskID: String) throws {
        try write { conn, _ in
            try conn.run("""
                INSERT INTO publication_refs (task_id, check_run_id) VALUES (?, ?)
                ON CONFLICT (task_id) DO UPDATE SET check_run_id = excluded.check_run_id
                """, [taskID, id])
        }
    }

    /// Running attempts per host across the whole store, for `/metrics` (a single host's
    /// store has one: "local").
    public func runningAttemptsByHost() throws -> [String: Int] {
        try reading { conn in
            var out: [String: Int] = [:]
            for r in try conn.query("""
                SELECT COALESCE(host_id, 'local') AS host, COUNT(*) AS n FROM attempts WHERE state = 'running'
                GROUP BY COALESCE(host_id, 'local')
                """) {
                if let h = r.string("host") { out[h] = Int(r.int("n") ?? 0) }
            }
            return out
        }
    }
}
