import Foundation
import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// Looking at a SQLite store without opening it as a store: `doctor` must not migrate
/// it, and `store migrate` must not copy a file a daemon still writes.
extension SQLiteBackend {
    /// The schema version stored in the file at `path` (`PRAGMA user_version`), read on a
    /// read-only connection: nothing is created or migrated.
    package static func schemaVersion(ofFile path: String) throws(StoreError) -> Int32 {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        defer { if let db { sqlite3_close_v2(db) } }
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            throw .sqlite(SQLiteError(code: rc, step: "open \(path) read-only", message: msg))
        }
        var stmt: OpaquePointer?
        defer { sqlite3_finalize(stmt) }
        let prc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nil)
        guard prc == SQLITE_OK, sqlite3_step(stmt) == SQLITE_ROW else {
            throw .sqlite(SQLiteError(code: sqlite3_errcode(db), step: "read the schema version of \(path)",
                                      message: String(cString: sqlite3_errmsg(db))))
        }
        return sqlite3_column_int(stmt, 0)
    }

    /// Whether another process has the WAL database at `path` open: every connection holds
    /// a read lock on the "DMS" byte (offset 128) of `<path>-shm` while it is open (SQLite's
    /// unix VFS). POSIX locks of this process are not reported, so our own connections
    /// never count.
    package static func isOpenByAnotherProcess(path: String) -> Bool {
        let fd = open(path + "-shm", O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return false }   // no -shm: no connection has it open
        defer { close(fd) }
        var probe = flock()
        probe.l_type = Int16(F_WRLCK)
        probe.l_whence = Int16(SEEK_SET)
        probe.l_start = 128
        probe.l_len = 1
        guard fcntl(fd, F_GETLK, &probe) == 0 else { return false }
        return probe.l_type != Int16(F_UNLCK)
    }
}
