import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The embedded engine: one SQLite file (`<state>/coven.db`, mode 0600), one host.
///
/// Settings, and why:
/// - `journal_mode=WAL`: readers never block the writer and a second process (the CLI,
///   a second daemon reading status) can open the same file safely.
/// - `synchronous=FULL`: every commit fsyncs the WAL. With NORMAL a commit survives a
///   process crash but may be lost on power failure or a kernel crash; a webhook
///   delivery is acknowledged to GitHub right after `recordDelivery` returns and is
///   not redelivered, so "returned" must mean "on disk". Writes that arrive together
///   share one commit and its fsync (`GroupCommitter`): each write runs in its own
///   savepoint of the shared transaction and returns once that transaction is committed.
///   The WAL is checkpointed by a thread of its own (`Checkpointer`), not inside a commit.
/// - `foreign_keys=ON`, `busy_timeout` (default 5 s): waiting for another connection's
///   write lock instead of failing at once.
/// - Every read-modify-write runs in `BEGIN IMMEDIATE`, taking the write lock before
///   reading, so two connections can never both claim the same task.
///
/// Within a process, the writing connection is guarded by a Mutex (writes reach it
/// through the group committer); reads go through a second, read-only connection with
/// its own Mutex, so a scan never holds up a webhook's insert (WAL lets the two run at
/// once). Run one daemon per file: `recoverInterrupted` at start assumes every running
/// attempt belongs to a daemon that is gone.
package final class SQLiteBackend: StoreBackend {
    package let path: String
    private let reader: Mutex<SQLiteDatabase>
    let committer: GroupCommitter
    let checkpointer: Checkpointer

    package var dialect: SQLDialect { .sqlite }
    package var hostID: String { "local" }
    package var leaseDuration: TimeInterval? { nil }

    /// Opens (creating if needed, mode 0600) the database at `path` and migrates it.
    package init(path: String, busyTimeout: TimeInterval = 5) throws {
        self.path = path
        try SQLiteBackend.prepareFile(path)
        let conn: SQLiteDatabase
        let readConn: SQLiteDatabase
        let checkpoints: Checkpointer
        let timeout = Int32(max(0, min(busyTimeout * 1000, 3_600_000)))
        do {
            conn = try SQLiteDatabase(path: path, busyTimeoutMs: timeout)
            let mode = try conn.scalar("PRAGMA journal_mode = WAL")
            guard case .text(let m) = mode, m.lowercased() == "wal" else {
                throw StoreError.io("could not switch \(path) to WAL mode (journal_mode is \(mode))")
            }
            try conn.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", step: "configure")
            try SQLiteBackend.migrate(conn)
            readConn = try SQLiteDatabase(path: path, busyTimeoutMs: timeout)
            try readConn.exec("PRAGMA query_only = ON;", step: "configure the read connection")
            checkpoints = try Checkpointer(path: path, busyTimeoutMs: timeout)
            try checkpoints.attach(to: conn)
        } catch let e as SQLiteError {
            throw StoreError.sqlite(e)
        }
        reader = Mutex(readConn)
        checkpointer = checkpoints
        committer = GroupCommitter(conn)
    }

    deinit {
        let checkpointer = self.checkpointer
        try? committer.withConnection { conn in checkpointer.stop(detaching: conn) }
    }

    private static func prepareFile(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.io("cannot create state directory \(dir): \(error.localizedDescription)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StoreError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw StoreError.io("\(path) is not a regular file") }
        // SQLite gives the -wal and -shm files the database file's mode.
        if st.st_mode & 0o777 != 0o600, fchmod(fd, 0o600) != 0 {
            throw StoreError.io("cannot chmod \(path) to 0600: \(String(cString: strerror(errno)))")
        }
    }

    /// In the next group commit, in a savepoint of its own (see `GroupCommitter`).
    package func write<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            return try committer.write { conn in try body(conn) }
        } catch let e as SQLiteError {
            throw StoreError.sqlite(e)
        }
    }

    package func reading<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            return try reader.withLock { conn throws -> T in try body(conn) }
        } catch let e as SQLiteError {
            throw StoreError.sqlite(e)
        }
    }

    package func snapshot<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            return try reader.withLock { conn throws -> T in
                try conn.exec("BEGIN DEFERRED", step: "BEGIN DEFERRED")
                do {
                    let value = try body(conn)
                    try conn.exec("COMMIT", step: "COMMIT")
                    return value
                } catch {
                    try? conn.exec("ROLLBACK", step: "ROLLBACK")
                    throw error
                }
            }
        } catch let e as SQLiteError {
            throw StoreError.sqlite(e)
        }
    }

    package func storedSchemaVersion() throws -> Int32 {
        try reading { conn in Int32(truncatingIfNeeded: try conn.scalar("PRAGMA user_version").intValue ?? 0) }
    }

    package func subscribe(_ handler: @escaping @Sendable (String, String) -> Void) -> (any StoreSubscription)? { nil }

    /// On the connection that writes.
    package func isHealthy() -> Bool {
        (try? committer.withConnection { conn in try conn.scalar("SELECT 1") == .int(1) }) ?? false
    }
}

extension TaskStore {
    /// The SQLite engine, for the tests of its group commit and checkpoints.
    var sqlite: SQLiteBackend {
        guard let s = backend as? SQLiteBackend else { preconditionFailure("the store is not on SQLite") }
        return s
    }
}
