import CSQLite
import Foundation

/// Checkpoints the WAL on a thread of its own, with a connection of its own, so that no
/// commit pays for copying the WAL back into the database (SQLite's automatic
/// checkpoint runs inside the commit that crosses its threshold, and every write waiting
/// for that commit waits for the copy and its fsync too).
///
/// The writing connection reports the WAL's length after each commit (`sqlite3_wal_hook`);
/// past `threshold` pages the thread runs a PASSIVE checkpoint, which never blocks the
/// writer or readers. Should it fall far behind (a reader pinning old frames, a slow
/// disk), the commit that finds the WAL at `8 × threshold` checkpoints inline, as SQLite
/// would have, so the WAL stays bounded.
final class Checkpointer: @unchecked Sendable {  // state guarded by `lock`; `connection` used by the thread only
    /// SQLite's own automatic checkpoint threshold, in pages.
    static let threshold: Int32 = 1000

    private let connection: SQLiteDatabase
    private let lock = NSCondition()
    private var walPages: Int32 = 0
    private var stopping = false
    private var running = false
    private var passes = 0

    init(path: String, busyTimeoutMs: Int32) throws(SQLiteError) {
        connection = try SQLiteDatabase(path: path, busyTimeoutMs: busyTimeoutMs)
    }

    /// Starts the thread and hands the writing connection's commits to it.
    func attach(to writer: SQLiteDatabase) throws(SQLiteError) {
        try writer.exec("PRAGMA wal_autocheckpoint = 0", step: "configure checkpoints")
        lock.lock()
        running = true
        lock.unlock()
        Thread { [self] in loop() }.start()
        sqlite3_wal_hook(writer.handle, { context, db, _, pages in
            guard let context else { return SQLITE_OK }
            let me = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
            if pages >= 8 * Checkpointer.threshold {
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else {
                me.walGrew(to: pages)
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Detaches from `writer` and stops the thread (waits for a checkpoint in progress).
    func stop(detaching writer: SQLiteDatabase) {
        sqlite3_wal_hook(writer.handle, nil, nil)
        lock.lock()
        stopping = true
        lock.broadcast()
        while running { lock.wait() }
        lock.unlock()
    }

    /// Checkpoints run so far (for tests).
    var checkpoints: Int {
        lock.lock()
        defer { lock.unlock() }
        return passes
    }

    private func walGrew(to pages: Int32) {
        lock.lock()
        walPages = pages
        if pages >= Self.threshold { lock.signal() }
        lock.unlock()
    }

    private func loop() {
        lock.lock()
        while true {
            while !stopping && walPages < Self.threshold { lock.wait() }
            if stopping { break }
            walPages = 0
            lock.unlock()
            try? connection.exec("PRAGMA wal_checkpoint(PASSIVE)", step: "checkpoint")
            lock.lock()
            passes += 1
        }
        running = false
        lock.broadcast()
        lock.unlock()
    }
}
