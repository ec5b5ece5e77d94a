import Foundation
import Synchronization

/// Group commit for the store's writing connection: writers that arrive while a commit
/// is in progress share the next transaction and its one fsync.
///
/// Leader/follower: a writer that finds no commit in progress leads; it takes every write
/// queued so far (its own included) and runs them in one `BEGIN IMMEDIATE` transaction,
/// each inside its own `SAVEPOINT`, so a write that throws is rolled back alone and the
/// others still commit. After the `COMMIT` every writer of the batch is woken with its
/// own result (or error); if more writes queued up meanwhile, the first of them leads the
/// next batch. Nobody returns before the commit that holds its write, so "returned" still
/// means "on disk" (`synchronous=FULL`).
///
/// Writes in one batch run one after the other, in arrival order, and each sees what the
/// earlier ones wrote: a batch is the same as running them one by one, minus the fsyncs.
/// A body must touch nothing but the connection: when SQLite rolls a whole transaction
/// back on its own (an I/O error, a full disk), the bodies that had succeeded in it are
/// run again in a fresh one.
final class GroupCommitter: @unchecked Sendable {  // mutable state guarded by `lock`
    private let connection: Mutex<SQLiteDatabase>
    private let lock = NSLock()
    private var queue: [Job] = []
    private var leading = false
    private var held = false
    private var batchCount = 0
    private var jobCount = 0

    /// One write waiting for (or in) a batch.
    private final class Job: @unchecked Sendable {  // handed from its writer to the leader and back, under `lock`
        enum Turn { case waiting, lead, done }
        /// Dropped once the batch is over: it captures the writer's non-escaping closure.
        var body: ((SQLiteDatabase) throws -> Void)?
        let wake = DispatchSemaphore(value: 0)
        var turn = Turn.waiting
        var error: (any Error)?
        var finished = false   // ran to a final outcome in the current batch attempt
        init(_ body: @escaping (SQLiteDatabase) throws -> Void) { self.body = body }
    }

    init(_ connection: sending SQLiteDatabase) { self.connection = Mutex(connection) }

    /// The connection on its own, outside any batch (waits for a batch in progress).
    func withConnection<T: Sendable>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        try connection.withLock { conn in try body(conn) }
    }

    /// Runs `body` in the next batch and returns its result once that batch is committed.
    /// Throws what `body` threw (its writes undone, the batch's others kept), or the
    /// error that kept the batch from committing.
    func write<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let box = ResultBox<T>()
            let job = Job { conn in box.value = try body(conn) }
            lock.lock()
            queue.append(job)
            if !leading && !held {
                leading = true
                lock.unlock()
                lead()
            } else {
                lock.unlock()
                job.wake.wait()
                if job.turn == .lead { lead() }
            }
            if let error = job.error { throw error }
            guard let value = box.value else { preconditionFailure("a committed write left no result") }
            return value
        }
    }

    /// Runs every queued write as one batch, wakes their writers, and hands the lead to
    /// the first writer queued meanwhile.
    private func lead() {
        lock.lock()
        let batch = queue
        queue.removeAll(keepingCapacity: true)
        lock.unlock()
        if !batch.isEmpty {
            connection.withLock { conn in commit(batch, conn) }
        }
        lock.lock()
        batchCount += 1
        jobCount += batch.count
        for job in batch { job.body = nil; job.turn = .done }
        let next = held ? nil : queue.first
        if let next { next.turn = .lead } else { leading = false }
        lock.unlock()
        // The leader's own job is in the batch too: its extra signal is never waited for.
        for job in batch { job.wake.signal() }
        next?.wake.signal()
    }

    private func commit(_ batch: [Job], _ conn: SQLiteDatabase) {
        var pending = batch
        while !pending.isEmpty {
            do {
                try conn.exec("BEGIN IMMEDIATE", step: "BEGIN IMMEDIATE")
            } catch {
                for job in pending { job.error = error }
                return
            }
            var restart = false
            for job in pending {
                do {
                    try conn.exec("SAVEPOINT write", step: "SAVEPOINT")
                    try job.body?(conn)
                    try conn.exec("RELEASE write", step: "RELEASE")
                    job.error = nil
                } catch {
                    job.error = error
                    job.finished = true
                    if conn.inTransaction {
                        try? conn.exec("ROLLBACK TO write", step: "ROLLBACK TO")
                        try? conn.exec("RELEASE write", step: "RELEASE")
                    } else {
                        // SQLite dropped the whole transaction: the writes before this one
                        // are gone too. Run the rest again in a new one.
                        restart = true
                        break
                    }
                }
            }
            if restart {
                pending = pending.filter { !$0.finished }
                continue
            }
            do {
                try conn.exec("COMMIT", step: "COMMIT")
            } catch {
                try? conn.exec("ROLLBACK", step: "ROLLBACK")
                for job in pending where job.error == nil { job.error = error }
            }
            return
        }
    }

    /// A write's result, set by the leader before it wakes the writer.
    private final class ResultBox<T>: @unchecked Sendable { var value: T? }

    // MARK: - For tests

    /// Batches committed and writes in them since the store was opened.
    var statistics: (batches: Int, writes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (batchCount, jobCount)
    }

    /// Writes queued so far and not yet in a batch.
    var queuedWrites: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count
    }

    /// While held, writes queue up without a batch starting, so that a test can put a
    /// known set of writes in one batch.
    func hold() {
        lock.lock()
        held = true
        lock.unlock()
    }

    /// Ends `hold()`: the first queued writer leads a batch of everything queued.
    func release() {
        lock.lock()
        held = false
        let next = leading ? nil : queue.first
        if let next { leading = true; next.turn = .lead }
        lock.unlock()
        next?.wake.signal()
    }
}
