import Foundation

/// The SQLite schema: versioned with `PRAGMA user_version`; `migrate` applies the missing
/// steps in one transaction and refuses a database from a newer version. The PostgreSQL
/// schema (target PostgresStore) keeps the same version numbers.
extension SQLiteBackend {
    /// Migration steps: applying step n to a database at version n-1 gives version n.
    static let migrations: [(version: Int32, sql: String)] = [
        (1, """
        CREATE TABLE tasks (
            seq              INTEGER PRIMARY KEY AUTOINCREMENT,   -- FIFO order
            id               TEXT NOT NULL UNIQUE,
            spec             TEXT NOT NULL,                       -- TaskSpec JSON
            state            TEXT NOT NULL CHECK (state IN ('queued','running','completed','failed','cancelled')),
            installation_id  INTEGER,                             -- NULL in local mode
            created_at       REAL NOT NULL,                       -- Unix seconds
            updated_at       REAL NOT NULL,
            not_before       REAL NOT NULL,                       -- earliest claim (backoff)
            attempts         INTEGER NOT NULL DEFAULT 0,          -- claimed so far, interrupted included
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            disposition      TEXT CHECK (disposition IN ('success','neutral','failure','action_required','cancelled')),
            final_reason     TEXT,
            result           TEXT                                 -- ResultEnvelope JSON
        );
        CREATE INDEX tasks_queue ON tasks (state, not_before, seq);
        CREATE INDEX tasks_installation ON tasks (installation_id, state);

        CREATE TABLE attempts (
            task_id          TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            number           INTEGER NOT NULL CHECK (number >= 1),
            state            TEXT NOT NULL CHECK (state IN ('running','finished','interrupted')),
            started_at       REAL NOT NULL,
            ended_at         REAL,
            exit_report      TEXT,                                -- ExitReport JSON
            classification   TEXT,
            note             TEXT,
            stdout_tail      BLOB,                                -- redacted, capped
            stdout_truncated INTEGER NOT NULL DEFAULT 0,
            stdout_bytes     INTEGER NOT NULL DEFAULT 0,
            stderr_tail      BLOB,
            stderr_truncated INTEGER NOT NULL DEFAULT 0,
            stderr_bytes     INTEGER NOT NULL DEFAULT 0,
            egress_log       TEXT,                                -- JSON, nullable
            PRIMARY KEY (task_id, number)
        );
        CREATE INDEX attempts_state ON attempts (state);

        CREATE TABLE deliveries (
            delivery_id      TEXT PRIMARY KEY,                    -- X-GitHub-Delivery
            event            TEXT NOT NULL,
            payload_sha256   TEXT NOT NULL CHECK (length(payload_sha256) = 64),
            received_at      REAL NOT NULL,
            outcome          TEXT NOT NULL CHECK (outcome IN ('queued','ignored')),
            task_id          TEXT REFERENCES tasks (id) ON DELETE SET NULL,
            ignored_reason   TEXT
        );

        -- Round-robin between installations: the claim counter value of each
        -- installation's latest claim (-1 stands for local mode's NULL installation).
        CREATE TABLE installation_turns (
            installation_key INTEGER PRIMARY KEY,
            last_claim       INTEGER NOT NULL
        );
        """),
        (2, """
        -- Why an interrupted attempt stopped: a shutdown never counts against its task, a
        -- crash counts against the crash budget. Attempts interrupted before this version
        -- were all found at a start, i.e. crashes.
        ALTER TABLE attempts ADD COLUMN interrupted_by TEXT CHECK (interrupted_by IN ('shutdown','crash'));
        UPDATE attempts SET interrupted_by = 'crash' WHERE state = 'interrupted';
        -- A finished attempt's verdict, so the task can be finished from the attempt alone.
        ALTER TABLE attempts ADD COLUMN disposition TEXT
            CHECK (disposition IN ('success','neutral','failure','action_required','cancelled'));
        ALTER TABLE attempts ADD COLUMN result TEXT;                  -- ResultEnvelope JSON

        -- The publication outbox: at most one pending event per task (a newer one replaces
        -- it: the later state says all the earlier did), written in the transaction of the
        -- state change it announces, deleted once delivered.
        CREATE TABLE publications (
            seq         INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id     TEXT NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
            event       TEXT NOT NULL CHECK (event IN ('queued','started','finished')),
            attempt     INTEGER,                                      -- for 'started'
            created_at  REAL NOT NULL,
            not_before  REAL NOT NULL,                                -- retry backoff
            tries       INTEGER NOT NULL DEFAULT 0,
            last_error  TEXT
        );
        CREATE INDEX publications_due ON publications (not_before, seq);

        -- The claim walks installations, not the queue: every installation with a task has
        -- a turn row (0 = never claimed), and each one's first claimable task is one seek.
        -- A plain column to compare with (SQLite leaves an index on the expression unused
        -- when it is compared to another table's column).
        ALTER TABLE tasks ADD COLUMN installation_key INTEGER GENERATED ALWAYS AS (IFNULL(installation_id, -1)) VIRTUAL;
        DROP INDEX tasks_installation;
        CREATE INDEX tasks_claim ON tasks (installation_key, state, seq, not_before);
        INSERT OR IGNORE INTO installation_turns (installation_key, last_claim)
            SELECT DISTINCT IFNULL(installation_id, -1), 0 FROM tasks;
        """),
        (3, """
        -- Repeated triggers: tasks of the same work (TriggerCoalescing.key) are found by
        -- their key; a trigger joins a live one (counted in `coalesced`) or, with new
        -- instructions, waits for it (`after_task`). Tasks from before have no key.
        ALTER TABLE tasks ADD COLUMN coalesce_key TEXT;
        ALTER TABLE tasks ADD COLUMN after_task TEXT;
        ALTER TABLE tasks ADD COLUMN coalesced INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX tasks_coalesce ON tasks (coalesce_key, state, seq);
        -- A delivery may now be 'coalesced' into an existing task (SQLite cannot change a
        -- CHECK in place: the table is copied).
        CREATE TABLE deliveries_v3 (
            delivery_id      TEXT PRIMARY KEY,
            event            TEXT NOT NULL,
            payload_sha256   TEXT NOT NULL CHECK (length(payload_sha256) = 64),
            received_at      REAL NOT NULL,
            outcome          TEXT NOT NULL CHECK (outcome IN ('queued','ignored','coalesced')),
            task_id          TEXT REFERENCES tasks (id) ON DELETE SET NULL,
            ignored_reason   TEXT
        );
        INSERT INTO deliveries_v3 SELECT delivery_id, event, payload_sha256, received_at, outcome, task_id, ignored_reason
            FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v3 RENAME TO deliveries;
        """),
        (4, """
        -- A retried task keeps its attempts, and its budgets start afresh: only attempts
        -- numbered above budget_from count against them.
        ALTER TABLE tasks ADD COLUMN budget_from INTEGER NOT NULL DEFAULT 0;
        """),
        (5, """
        -- A review superseded by a newer push: the commit that superseded it. Its Check Run
        -- concludes neutral ("superseded by <sha>") and its findings are never published.
        ALTER TABLE tasks ADD COLUMN superseded_by TEXT;
        """),
        (6, """
        -- Per-installation policy and metering. Usage per installation and UTC day, kept
        -- apart from the tasks (no foreign key): pruning tasks keeps it, an uninstall
        -- removes it.
        CREATE TABLE installation_usage (
            installation_id   INTEGER NOT NULL,
            day               TEXT NOT NULL,                        -- YYYY-MM-DD, UTC
            tasks             INTEGER NOT NULL DEFAULT 0,           -- accepted, on the day they may start
            attempts          INTEGER NOT NULL DEFAULT 0,
            wall_seconds      REAL NOT NULL DEFAULT 0,
            cpu_seconds       REAL NOT NULL DEFAULT 0,
            peak_memory_bytes INTEGER NOT NULL DEFAULT 0,           -- the day's largest attempt peak
            egress_bytes      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (installation_id, day)
        );
        -- The limit a queued task waits for, shown in its status comment.
        ALTER TABLE tasks ADD COLUMN held_by TEXT;
        -- Where a delivery came from, so an uninstall purges the ignored ones too.
        ALTER TABLE deliveries ADD COLUMN installation_id INTEGER;
        """),
        (7, """
        -- Fleet mode: a running attempt is held by one host (host_id) until its lease
        -- expires; its host renews the lease while it runs. A single host has no leases
        -- (lease_expires stays NULL): its running attempts are recovered at its start.
        ALTER TABLE attempts ADD COLUMN host_id TEXT;
        ALTER TABLE attempts ADD COLUMN lease_expires REAL;
        CREATE INDEX attempts_host ON attempts (host_id, state);
        -- A publication a host is delivering: no other host takes it before then.
        ALTER TABLE publications ADD COLUMN claimed_until REAL;
        ALTER TABLE publications ADD COLUMN claimed_by TEXT;        -- that host's heartbeat renews the claim
        -- The Check Run a task's publications created (was <state>/check-runs.json), so
        -- whichever host publishes next updates it.
        CREATE TABLE publication_refs (
            task_id       TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
            check_run_id  INTEGER
        );
        """),
    ]

    /// Brings the database to `schemaVersion` in one transaction.
    static func migrate(_ conn: SQLiteDatabase) throws {
        try conn.transaction(.immediate) {
            guard case .int(let v) = try conn.scalar("PRAGMA user_version") else {
                throw StoreError.corrupt("PRAGMA user_version returned no integer")
            }
            let current = Int32(truncatingIfNeeded: v)
            if current > TaskStore.schemaVersion {
                throw StoreError.schemaTooNew(found: current, supported: TaskStore.schemaVersion)
            }
            for step in migrations where step.version > current {
                try conn.exec(step.sql, step: "migrate to schema version \(step.version)")
                try conn.exec("PRAGMA user_version = \(step.version)", step: "set user_version \(step.version)")
            }
        }
    }
}
