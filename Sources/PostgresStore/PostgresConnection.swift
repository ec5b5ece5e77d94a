import CLibPQ
import Foundation
import Supervisor

/// One libpq connection (PGconn) running the store's SQL. Not thread-safe by itself:
/// the owner serialises access (PostgresPool hands a connection to one caller at a time).
package final class PostgresConnection: SQLConnection {
    private let conn: OpaquePointer
    private var placeholders = PlaceholderCache()
    /// Statements prepared on this connection, by text and parameter types: the store runs
    /// the same few over and over, and a prepared one is parsed (and, after a few runs,
    /// planned) once instead of at every call.
    private var prepared: [PreparedKey: String] = [:]
    private static let maxPrepared = 256
    private var savepoints = 0

    package enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED", repeatableRead = "REPEATABLE READ", serializable = "SERIALIZABLE"
    }

    /// Connects with `conninfo` (keyword=value or postgresql:// URI). A failure's message
    /// never holds the connection string or its password: libpq's own message names
    /// host, socket and user at most, and any password value is cut out of it anyway.
    package init(conninfo: String, applicationName: String = "coven-supervisor") throws(PostgresError) {
        let secrets = try Self.secretValues(conninfo)
        // The connection string expands in "dbname"; the keys after it win, so the
        // client always speaks UTF-8 and names itself.
        let keys = ["dbname", "application_name", "client_encoding"]
        let values = [conninfo, applicationName, "UTF8"]
        let connection = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let connection else {
            throw PostgresError(sqlstate: "", step: "connect", message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let raw = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(sqlstate: "", step: "connect",
                                message: Self.redact(Self.oneLine(raw), conninfo: conninfo, secrets: secrets))
        }
        conn = connection
        // libpq prints server notices (and a dying session's FATAL) to stderr by default;
        // the daemon's stderr is its structured log, and errors reach us as results anyway.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        // Warnings only (no NOTICE chatter), times in UTC, bytea in the hex form decode reads.
        try exec("SET client_min_messages = warning; SET TimeZone = 'UTC'; SET bytea_output = 'hex'", step: "connect")
    }

    deinit { PQfinish(conn) }

    /// The connection is up as far as libpq knows (it notices a dead server on the next call).
    package var isAlive: Bool { PQstatus(conn) == CONNECTION_OK }

    /// The server process serving this connection (what pg_terminate_backend takes).
    package var backendPID: Int32 { PQbackendPID(conn) }

    /// No transaction open, no command in flight: safe to hand to someone else.
    package var isIdle: Bool { PQtransactionStatus(conn) == PQTRANS_IDLE }

    // MARK: SQLConnection

    package func query(_ sql: String, _ params: [any SQLBindable]) throws(PostgresError) -> [SQLRow] {
        let res = try execute(sql, params, step: "query")
        defer { PQclear(res) }
        return rows(res)
    }

    @discardableResult
    package func run(_ sql: String, _ params: [any SQLBindable]) throws(PostgresError) -> Int {
        let res = try execute(sql, params, step: "run")
        defer { PQclear(res) }
        return Int(String(cString: PQcmdTuples(res))) ?? 0
    }

    /// Several statements without parameters, in one round trip (a schema migration).
    package func exec(_ sql: String, step: String) throws(PostgresError) {
        let res = PQexec(conn, sql)
        defer { PQclear(res) }
        try check(res, step: step)
    }

    package func notify(_ channel: String, _ payload: String) throws(PostgresError) {
        PQclear(try execute("SELECT pg_notify($1, $2)", [channel, payload], step: "NOTIFY", rewrite: false))
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    /// Inside another transaction it becomes a savepoint, so an inner failure undoes only
    /// the inner work. `isolation` applies to the outermost transaction only.
    package func transaction<T>(isolation: IsolationLevel? = nil, _ body: () throws -> T) throws -> T {
        if !isIdle { return try savepoint(body) }
        try exec("BEGIN" + (isolation.map { " ISOLATION LEVEL \($0.rawValue)" } ?? ""), step: "BEGIN")
        let value: T
        do {
            value = try body()
        } catch {
            // Best effort: on a lost connection the server has rolled back already.
            try? exec("ROLLBACK", step: "ROLLBACK")
            throw error
        }
        let res = PQexec(conn, "COMMIT")
        defer { PQclear(res) }
        try check(res, step: "COMMIT")
        // COMMIT of a transaction an earlier statement failed in rolls back and says so.
        if String(cString: PQcmdStatus(res)) == "ROLLBACK" {
            throw PostgresError(sqlstate: "25P02", step: "COMMIT",
                                message: "the transaction was rolled back: a statement in it had failed")
        }
        return value
    }

    private func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        defer { savepoints -= 1 }
        let name = "coven_sp\(savepoints)"
        try exec("SAVEPOINT \(name)", step: "SAVEPOINT")
        do {
            let value = try body()
            try exec("RELEASE SAVEPOINT \(name)", step: "RELEASE SAVEPOINT")
            return value
        } catch {
            try? exec("ROLLBACK TO SAVEPOINT \(name)", step: "ROLLBACK TO SAVEPOINT")
            throw error
        }
    }

    // MARK: Internals shared with the LISTEN side

    var handle: OpaquePointer { conn }

    /// The error libpq reports for the connection itself (no result to read it from).
    func connectionError(_ step: String) -> PostgresError {
        PostgresError(sqlstate: "", step: step, message: Self.oneLine(String(cString: PQerrorMessage(conn))))
    }

    private func execute(_ sql: String, _ params: [any SQLBindable], step: String,
                         rewrite: Bool = true) throws(PostgresError) -> OpaquePointer? {
        let text = rewrite ? placeholders.postgres(sql) : sql
        let parameters = params.map { PostgresValues.parameter($0.sqlValue) }
        let types = parameters.map(\.type)
        let lengths = parameters.map { Int32($0.bytes?.count ?? 0) }
        let formats = parameters.map { Int32($0.binary ? 1 : 0) }
        // The bytes live in buffers of our own for the duration of the call, NUL-ended:
        // libpq reads text-format values up to the NUL and ignores their length.
        let buffers: [UnsafeMutablePointer<CChar>?] = parameters.map { p in
            guard let bytes = p.bytes else { return nil }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { raw in
                if let base = raw.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count) }
            }
            buffer[bytes.count] = 0
            return buffer
        }
        defer { for b in buffers { b?.deallocate() } }
        let values = buffers.map { UnsafePointer($0) }
        let name = try statement(text, types, step: step)
        let res = PQexecPrepared(conn, name, Int32(parameters.count), values, lengths, formats, 0)
        do throws(PostgresError) {
            try check(res, step: step)
        } catch {
            PQclear(res)
            throw error
        }
        return res
    }

    /// The name of `text` prepared with parameter `types`, preparing it the first time.
    private func statement(_ text: String, _ types: [Oid], step: String) throws(PostgresError) -> String {
        let key = PreparedKey(text: text, types: types)
        if let name = prepared[key] { return name }
        if prepared.count >= Self.maxPrepared {
            // Bounded: a store that built statements without end (it does not) still would not grow the server.
            PQclear(PQexec(conn, "DEALLOCATE ALL"))
            prepared.removeAll()
        }
        let name = "coven_\(prepared.count + 1)"
        let res = PQprepare(conn, name, text, Int32(types.count), types)
        defer { PQclear(res) }
        try check(res, step: step)
        prepared[key] = name
        return name
    }

    /// Throws the result's error, if it is one. A failure that took the connection with
    /// it reads as class 08 (or no SQLSTATE), whatever the server said on its way out.
    private func check(_ res: OpaquePointer?, step: String) throws(PostgresError) {
        guard let res else { throw connectionError(step) }
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        default:
            var sqlstate = field(res, "C") ?? ""
            let message = field(res, "M") ?? Self.oneLine(String(cString: PQresultErrorMessage(res)))
            if !isAlive && !sqlstate.isEmpty && !sqlstate.hasPrefix("08") { sqlstate = "08006" }
            throw PostgresError(sqlstate: sqlstate, step: step, message: message)
        }
    }

    private func field(_ res: OpaquePointer, _ code: Unicode.Scalar) -> String? {
        PQresultErrorField(res, Int32(code.value)).map { String(cString: $0) }
    }

    private func rows(_ res: OpaquePointer?) -> [SQLRow] {
        let nrows = Int(PQntuples(res)), ncols = Int(PQnfields(res))
        var columns: [String: Int] = [:]
        var types: [UInt32] = []
        for c in 0..<ncols {
            let name = String(cString: PQfname(res, Int32(c)))
            if columns[name] == nil { columns[name] = c }
            types.append(PQftype(res, Int32(c)))
        }
        var out: [SQLRow] = []
        out.reserveCapacity(nrows)
        for r in 0..<nrows {
            var values: [SQLValue] = []
            values.reserveCapacity(ncols)
            for c in 0..<ncols {
                if PQgetisnull(res, Int32(r), Int32(c)) != 0 { values.append(.null); continue }
                let length = Int(PQgetlength(res, Int32(r), Int32(c)))
                let cell = UnsafeRawPointer(PQgetvalue(res, Int32(r), Int32(c))!).assumingMemoryBound(to: UInt8.self)
                values.append(PostgresValues.decode(UnsafeBufferPointer(start: cell, count: length), type: types[c]))
            }
            out.append(SQLRow(columns: columns, values: values))
        }
        return out
    }

    // MARK: Keeping secrets out of messages

    /// The password values in `conninfo`. A string libpq cannot parse is refused with a
    /// message of our own: libpq's parse errors quote the text around the mistake.
    private static func secretValues(_ conninfo: String) throws(PostgresError) -> [String] {
        var errmsg: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errmsg) else {
            if let errmsg { PQfreemem(errmsg) }
            throw PostgresError(sqlstate: "", step: "connect",
                                message: "the connection string is not valid keyword=value pairs or a postgresql:// URI")
        }
        defer { PQconninfoFree(options) }
        var secrets: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val {
                let s = String(cString: value)
                if !s.isEmpty { secrets.append(s) }
            }
            option += 1
        }
        return secrets
    }

    static func redact(_ message: String, conninfo: String, secrets: [String]) -> String {
        var m = message
        if !conninfo.isEmpty { m = m.replacingOccurrences(of: conninfo, with: "<connection string>") }
        for secret in secrets { m = m.replacingOccurrences(of: secret, with: "<redacted>") }
        return m
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }
}

/// C string arrays for libpq's keyword/value calls, valid inside `body`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for c in copies { free(c) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A prepared statement's identity: the same text with other parameter types (a NULL is
/// typed unknown) is another statement.
private struct PreparedKey: Hashable {
    let text: String
    let types: [Oid]
}
