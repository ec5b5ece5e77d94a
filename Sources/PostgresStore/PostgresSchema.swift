import Foundation
import Supervisor

/// The PostgreSQL schema, with the SQLite schema's version numbers: a fleet's database
/// starts at version 7 (the first with leases), and a later step is added to both.
/// The version is the one row of `coven_schema`; `migrate` applies the missing steps in
/// one transaction under an advisory lock, so hosts starting together migrate once.
extension PostgresBackend {
    static let migrations: [(version: Int32, sql: String)] = [
        (7, """
        CREATE TABLE tasks (
            seq              BIGSERIAL PRIMARY KEY,                -- FIFO order
            id               TEXT NOT NULL UNIQUE,
            spec             TEXT NOT NULL,                        -- TaskSpec JSON
            state            TEXT NOT NULL CHECK (state IN ('queued','running','completed','failed','cancelled')),
            installation_id  BIGINT,                               -- NULL in local mode
            installation_key BIGINT GENERATED ALWAYS AS (COALESCE(installation_id, -1)) STORED,
            created_at       DOUBLE PRECISION NOT NULL,            -- Unix seconds
            updated_at       DOUBLE PRECISION NOT NULL,
            not_before       DOUBLE PRECISION NOT NULL,
            attempts         BIGINT NOT NULL DEFAULT 0,
            cancel_requested BIGINT NOT NULL DEFAULT 0,
            disposition      TEXT CHECK (disposition IN ('success','neutral','failure','action_required','cancelled')),
            final_reason     TEXT,
            result           TEXT,
            coalesce_key     TEXT,
            after_task       TEXT,
            coalesced        BIGINT NOT NULL DEFAULT 0,
            budget_from      BIGINT NOT NULL DEFAULT 0,
            superseded_by    TEXT,
            held_by          TEXT
        );
        CREATE INDEX tasks_queue ON tasks (state, not_before, seq);
        CREATE INDEX tasks_claim ON tasks (installation_key, state, seq, not_before);
        CREATE INDEX tasks_coalesce ON tasks (coalesce_key, state, seq);

        CREATE TABLE attempts (
            task_id          TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            number           BIGINT NOT NULL CHECK (number >= 1),
            state            TEXT NOT NULL CHECK (state IN ('running','finished','interrupted')),
            started_at       DOUBLE PRECISION NOT NULL,
            ended_at         DOUBLE PRECISION,
            exit_report      TEXT,
            classification   TEXT,
            note             TEXT,
            stdout_tail      BYTEA,
            stdout_truncated BIGINT NOT NULL DEFAULT 0,
            stdout_bytes     BIGINT NOT NULL DEFAULT 0,
            stderr_tail      BYTEA,
            stderr_truncated BIGINT NOT NULL DEFAULT 0,
            stderr_bytes     BIGINT NOT NULL DEFAULT 0,
            egress_log       TEXT,
            interrupted_by   TEXT CHECK (interrupted_by IN ('shutdown','crash')),
            disposition      TEXT CHECK (disposition IN ('success','neutral','failure','action_required','cancelled')),
            result           TEXT,
            host_id          TEXT,                                 -- the host holding it
            lease_expires    DOUBLE PRECISION,                     -- renewed by that host's heartbeat
            PRIMARY KEY (task_id, number)
        );
        CREATE INDEX attempts_state ON attempts (state);
        CREATE INDEX attempts_host ON attempts (host_id, state);
        CREATE INDEX attempts_lease ON attempts (lease_expires) WHERE state = 'running';

        CREATE TABLE deliveries (
            delivery_id      TEXT PRIMARY KEY,                     -- X-GitHub-Delivery: any host, once
            event            TEXT NOT NULL,
            payload_sha256   TEXT NOT NULL CHECK (length(payload_sha256) = 64),
            received_at      DOUBLE PRECISION NOT NULL,
            outcome          TEXT NOT NULL CHECK (outcome IN ('queued','ignored','coalesced')),
            task_id          TEXT REFERENCES tasks (id) ON DELETE SET NULL,
            ignored_reason   TEXT,
            installation_id  BIGINT
        );

        CREATE TABLE installation_turns (
            installation_key BIGINT PRIMARY KEY,
            last_claim       BIGINT NOT NULL
        );
        -- Turn numbers: a sequence, so hosts claiming at once never wait for each other here.
        CREATE SEQUENCE claim_turns;

        CREATE TABLE publications (
            seq           BIGSERIAL PRIMARY KEY,
            task_id       TEXT NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
            event         TEXT NOT NULL CHECK (event IN ('queued','started','finished')),
            attempt       BIGINT,
            created_at    DOUBLE PRECISION NOT NULL,
            not_before    DOUBLE PRECISION NOT NULL,
            tries         BIGINT NOT NULL DEFAULT 0,
            last_error    TEXT,
            claimed_until DOUBLE PRECISION,                        -- a host is delivering it
            claimed_by    TEXT                                     -- which: its heartbeat renews the claim
        );
        CREATE INDEX publications_due ON publications (not_before, seq);

        CREATE TABLE installation_usage (
            installation_id   BIGINT NOT NULL,
            day               TEXT NOT NULL,
            tasks             BIGINT NOT NULL DEFAULT 0,
            attempts          BIGINT NOT NULL DEFAULT 0,
            wall_seconds      DOUBLE PRECISION NOT NULL DEFAULT 0,
            cpu_seconds       DOUBLE PRECISION NOT NULL DEFAULT 0,
            peak_memory_bytes BIGINT NOT NULL DEFAULT 0,
            egress_bytes      BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (installation_id, day)
        );

        CREATE TABLE publication_refs (
            task_id       TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
            check_run_id  BIGINT
        );
        """),
    ]

    /// Brings the database to `TaskStore.schemaVersion`.
    static func migrate(_ conn: PostgresConnection) throws {
        try conn.transaction {
            try conn.exec("SELECT pg_advisory_xact_lock(7363101)", step: "lock the schema")
            try conn.exec("CREATE TABLE IF NOT EXISTS coven_schema (version INTEGER NOT NULL)", step: "schema version table")
            let current = Int32(truncatingIfNeeded: try conn.scalar("SELECT MAX(version) FROM coven_schema").intValue ?? 0)
            if current > TaskStore.schemaVersion {
                throw StoreError.schemaTooNew(found: current, supported: TaskStore.schemaVersion)
            }
            for step in migrations where step.version > current {
                try conn.exec(step.sql, step: "migrate to schema version \(step.version)")
            }
            if current < TaskStore.schemaVersion {
                try conn.run("DELETE FROM coven_schema", [])
                try conn.run("INSERT INTO coven_schema (version) VALUES (?)", [Int(TaskStore.schemaVersion)])
            }
        }
    }
}
