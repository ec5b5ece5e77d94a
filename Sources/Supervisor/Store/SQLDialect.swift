/// The few statements the two engines spell differently; everything else the store
/// runs is written once.
package struct SQLDialect: Sendable {
    package var name: String
    /// Puts a task's pending publication in the outbox, replacing the task's older one
    /// under a new `seq` (so the delivery of the older one removes nothing newer).
    /// Parameters: task id, event, attempt, created_at, not_before.
    package var replacePublicationSQL: String
    /// The text at a path of a column holding JSON text.
    package var jsonText: @Sendable (_ column: String, _ path: [String]) -> String
    /// Appended to a read-modify-write's first read of a row: PostgreSQL locks the row
    /// (hosts write at once; the lock orders them per task). SQLite has one writer.
    package var forUpdate: String
    /// Takes a transaction-long lock on a key, or nil when the engine has one writer
    /// anyway. Parameter: the key text.
    package var keyLockSQL: String?
    /// The next claim turn number, an expression inside the claim's own statement.
    package var nextTurnSQL: String

    package static let sqlite = SQLDialect(
        name: "sqlite",
        replacePublicationSQL: """
            INSERT OR REPLACE INTO publications (task_id, event, attempt, created_at, not_before)
            VALUES (?, ?, ?, ?, ?)
            """,
        jsonText: { column, path in "json_extract(\(column), '$.\(path.joined(separator: "."))')" },
        forUpdate: "", keyLockSQL: nil,
        nextTurnSQL: "(SELECT COALESCE(MAX(last_claim), 0) + 1 FROM installation_turns)")

    package static let postgres = SQLDialect(
        name: "postgres",
        replacePublicationSQL: """
            INSERT INTO publications (task_id, event, attempt, created_at, not_before) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (task_id) DO UPDATE SET seq = nextval('publications_seq_seq'), event = excluded.event,
                attempt = excluded.attempt, created_at = excluded.created_at, not_before = excluded.not_before,
                tries = 0, last_error = NULL
            """,
        jsonText: { column, path in "(\(column)::jsonb #>> '{\(path.joined(separator: ","))}')" },
        forUpdate: " FOR UPDATE", keyLockSQL: "SELECT pg_advisory_xact_lock(hashtext(?))",
        // A sequence: hosts claiming at once never wait for each other here.
        nextTurnSQL: "nextval('claim_turns')")
}
