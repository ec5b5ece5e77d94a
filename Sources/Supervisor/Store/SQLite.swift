import CSQLite
import Foundation

/// A failed SQLite call: what we were doing, SQLite's (extended) result code and its
/// message.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Extended result code (SQLITE_BUSY = 5, SQLITE_CONSTRAINT_PRIMARYKEY = 1555, ...).
    public var code: Int32
    /// The step that failed: "open", "prepare", "bind", "step", "exec", "BEGIN IMMEDIATE", ...
    public var step: String
    /// sqlite3_errmsg at the time of failure.
    public var message: String
    /// The statement, when there was one.
    public var sql: String?

    public var description: String {
        var s = "sqlite \(step) failed (code \(code)): \(message)"
        if let sql { s += " [\(sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))]" }
        return s
    }

    /// SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock past the timeout).
    public var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
    /// A constraint failed (unique, primary key, foreign key, check).
    public var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
}

extension SQLiteError: SQLFailure {}


/// A thin wrapper around one sqlite3 connection. Not thread-safe by itself: the owner
/// serialises access (TaskStore holds it inside a Mutex).
final class SQLiteDatabase: SQLConnection {
    private(set) var handle: OpaquePointer?
    let path: String
    /// Prepared statements by SQL text, reused (reset) instead of compiled on every call:
    /// the store runs the same few statements over and over. SQLite re-prepares a cached
    /// statement itself after a schema change.
    private var statements: [String: OpaquePointer] = [:]

    enum TransactionKind: String { case deferred = "DEFERRED", immediate = "IMMEDIATE", exclusive = "EXCLUSIVE" }

    init(path: String, busyTimeoutMs: Int32 = 5000) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, step: "open \(path)", message: msg)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMs)
    }

    deinit {
        for stmt in statements.values { sqlite3_finalize(stmt) }
        if let handle { sqlite3_close_v2(handle) }
    }

    /// Whether a transaction is open. SQLite rolls the whole transaction back by itself
    /// after some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ...): then this is false
    /// although no COMMIT or ROLLBACK was run.
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    private func error(_ rc: Int32, _ step: String, _ sql: String?) -> SQLiteError {
        SQLiteError(code: rc, step: step, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements without parameters.
    func exec(_ sql: String, step: String = "exec") throws(SQLiteError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let msg = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), step: step, message: msg, sql: sql)
        }
    }

    /// Runs a statement, returning the rows it produced.
    @discardableResult
    func query(_ sql: String, _ params: [any SQLBindable] = []) throws(SQLiteError) -> [SQLRow] {
        let stmt = try cachedStatement(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        try bind(stmt, params, sql)
        var columns: [String: Int] = [:]
        let count = sqlite3_column_count(stmt)
        for i in 0..<count { columns[String(cString: sqlite3_column_name(stmt, i))] = Int(i) }
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, "step", sql) }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for i in 0..<count { values.append(column(stmt, i)) }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    @discardableResult
    func run(_ sql: String, _ params: [any SQLBindable] = []) throws(SQLiteError) -> Int {
        try query(sql, params)
        return Int(sqlite3_changes(handle))
    }

    /// The first column of the first row.
    func scalar(_ sql: String, _ params: [any SQLBindable] = []) throws(SQLiteError) -> SQLValue {
        try query(sql, params).first?.values.first ?? .null
    }

    /// One process owns the file: there is nobody to tell.
    func notify(_ channel: String, _ payload: String) {}

    var dialect: SQLDialect { .sqlite }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it
    /// throws. IMMEDIATE takes the write lock up front (waiting up to the busy timeout),
    /// which is what every read-modify-write here needs.
    func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        try exec("BEGIN \(kind.rawValue)", step: "BEGIN \(kind.rawValue)")
        let value: T
        do {
            value = try body()
        } catch {
            try? exec("ROLLBACK", step: "ROLLBACK")
            throw error
        }
        do {
            try exec("COMMIT", step: "COMMIT")
        } catch {
            try? exec("ROLLBACK", step: "ROLLBACK")
            throw error
        }
        return value
    }

    private func cachedStatement(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let stmt = statements[sql] { return stmt }
        let stmt = try prepare(sql)
        // Statements built from their arguments (lists of ids) would pile up: start over.
        if statements.count >= 128 {
            for old in statements.values { sqlite3_finalize(old) }
            statements.removeAll(keepingCapacity: true)
        }
        statements[sql] = stmt
        return stmt
    }

    private func prepare(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare", sql) }
        return stmt
    }

    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self) }

    private func bind(_ stmt: OpaquePointer, _ params: [any SQLBindable], _ sql: String) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(stmt))
        guard expected == params.count else {
            throw SQLiteError(code: SQLITE_RANGE, step: "bind", message: "statement has \(expected) parameters, \(params.count) given", sql: sql)
        }
        for (n, p) in params.enumerated() {
            let i = Int32(n + 1)
            let rc: Int32
            switch p.sqlValue {
            case .null: rc = sqlite3_bind_null(stmt, i)
            case .int(let v): rc = sqlite3_bind_int64(stmt, i, v)
            case .double(let v): rc = sqlite3_bind_double(stmt, i, v)
            case .text(let s):
                // withCString hands over the contiguous UTF-8 (embedded NULs kept); the
                // explicit length makes SQLite take all of it.
                let length = Int32(s.utf8.count)
                rc = s.withCString { sqlite3_bind_text(stmt, i, $0, length, SQLiteDatabase.transient) }
            case .blob(let d):
                rc = d.withUnsafeBytes { raw in
                    sqlite3_bind_blob(stmt, i, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(d.count), SQLiteDatabase.transient)
                }
            }
            guard rc == SQLITE_OK else { throw error(rc, "bind parameter \(i)", sql) }
        }
    }

    private func column(_ stmt: OpaquePointer, _ i: Int32) -> SQLValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard let p = sqlite3_column_text(stmt, i) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob(Data()) }
            return .blob(Data(bytes: p, count: n))
        default: return .null
        }
    }
}
