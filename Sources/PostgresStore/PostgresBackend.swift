import Foundation
import Supervisor

/// The fleet's engine: one PostgreSQL database every host's daemon shares.
///
/// - Writes run in READ COMMITTED transactions on a pool of connections; the shared SQL
///   locks what it reads to change (`SQLDialect.forUpdate` on the task row, an advisory
///   lock per coalescing key), claims skip rows another host has locked, and a
///   serialization failure or deadlock runs the transaction again. A commit is durable
///   (the server's `synchronous_commit`) before the call returns, and concurrent commits
///   share the server's WAL flushes.
/// - Every running attempt holds a lease (`host_id`, `lease_expires`) its host renews.
/// - Hosts tell each other of news with `NOTIFY` (`StoreChannel`), one listening
///   connection per host (`PostgresListener`).
package final class PostgresBackend: StoreBackend {
    package let hostID: String
    package let leaseDuration: TimeInterval?
    private let pool: PostgresPool
    /// Held only for `subscribe`'s own connection: the pool never hands it out.
    private let conninfo: String

    package var dialect: SQLDialect { .postgres }

    /// How many times a transaction the server aborted (serialization, deadlock) is run again.
    static let retries = 8

    /// Connects (the connection string is never logged or put in an error) and migrates.
    package init(conninfo: String, hostID: String, lease: TimeInterval = 15, poolSize: Int = 8) throws {
        guard !hostID.isEmpty else { throw StoreError.invalidArgument("the host id is empty") }
        self.hostID = hostID
        self.leaseDuration = max(1, lease)
        self.conninfo = conninfo
        // A host frozen inside a transaction (SIGSTOP, a partition mid-commit) would hold its
        // row locks, and with them the takeover of its attempts, for as long as it is gone:
        // the server ends such a session after a third of a lease. Store transactions never
        // idle that long between statements.
        let idleLimit = Int(max(1, lease / 3) * 1000)
        pool = PostgresPool(conninfo: conninfo, size: max(2, poolSize),
                            setup: ["SET idle_in_transaction_session_timeout = \(idleLimit)"])
        do {
            try pool.withConnection { conn in try PostgresBackend.migrate(conn) }
        } catch let e as PostgresError {
            throw StoreError.postgres(e)
        }
    }

    package func write<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        var tries = 0
        while true {
            do {
                return try pool.withConnection { conn in try conn.transaction { try body(conn) } }
            } catch let e as PostgresError where e.isRetryable && tries < PostgresBackend.retries {
                tries += 1
            } catch let e as PostgresError {
                throw StoreError.postgres(e)
            }
        }
    }

    package func reading<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            return try pool.withConnection { conn in try body(conn) }
        } catch let e as PostgresError {
            throw StoreError.postgres(e)
        }
    }

    package func snapshot<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            return try pool.withConnection { conn in try conn.transaction(isolation: .repeatableRead) { try body(conn) } }
        } catch let e as PostgresError {
            throw StoreError.postgres(e)
        }
    }

    package func storedSchemaVersion() throws -> Int32 {
        try reading { conn in Int32(truncatingIfNeeded: try conn.scalar("SELECT MAX(version) FROM coven_schema").intValue ?? 0) }
    }

    package func isHealthy() -> Bool {
        (try? reading { conn in try conn.scalar("SELECT 1") == .int(1) }) ?? false
    }

    package func subscribe(_ handler: @escaping @Sendable (String, String) -> Void) throws -> (any StoreSubscription)? {
        PostgresListener(conninfo: conninfo, channels: StoreChannel.all, handler: handler)
    }
}

extension PostgresConnection {
    package var dialect: SQLDialect { .postgres }
}
