import Foundation
import PostgresStore
import Supervisor

/// Why `store migrate` copied nothing. Names files and tables, never a connection string.
public enum StoreMigrationError: Error, Equatable, CustomStringConvertible {
    case sourceMissing(path: String)
    /// Another process (a daemon?) has the SQLite file open.
    case sourceInUse(path: String)
    case sourceUnreadable(path: String, reason: String)
    case connectionFile(reason: String)
    case targetUnreachable(reason: String)
    case targetNotEmpty(table: String, rows: Int)
    /// The two schemas disagree about a table's columns (same version, yet different).
    case schemaMismatch(table: String, detail: String)
    case copyFailed(table: String, reason: String)
    case countMismatch(table: String, source: Int, copied: Int)
    /// Reading the SQLite snapshot, or the transaction's BEGIN or COMMIT.
    case transactionFailed(reason: String)

    public var description: String {
        switch self {
        case .sourceMissing(let p):
            return "the source \(p) does not exist (nothing created)"
        case .sourceInUse(let p):
            return "\(p) is open in another process: stop the daemon (and anything else using the file) first"
        case .sourceUnreadable(let p, let r):
            return "cannot open the source \(p): \(r)"
        case .connectionFile(let r):
            return r
        case .targetUnreachable(let r):
            return "cannot open the target database: \(r)"
        case .targetNotEmpty(let t, let n):
            return "the target database already has \(n) row\(n == 1 ? "" : "s") in \(t): migrate into an empty database only (nothing copied)"
        case .schemaMismatch(let t, let d):
            return "table \(t): the schemas differ (\(d)); nothing copied"
        case .copyFailed(let t, let r):
            return "copying table \(t) failed, nothing committed: \(r)"
        case .countMismatch(let t, let s, let c):
            return "table \(t): \(s) rows in the source but \(c) in the target after the copy; nothing committed"
        case .transactionFailed(let r):
            return "the copy's transaction failed, nothing committed: \(r)"
        }
    }
}

/// `store migrate`: a single host's SQLite store copied into an empty PostgreSQL database,
/// so the host (and others) can run on it as a fleet. One PostgreSQL transaction: all of
/// it or nothing. The SQLite file is read only (after `TaskStore`'s own migration to the
/// current schema, as any start of the daemon would do).
public enum StoreMigration {
    /// Rows copied, per table, in copy order.
    public typealias Summary = [(table: String, rows: Int)]

    /// Parents before children (foreign keys). `seq` is the engine's own (bigserial): rows
    /// are inserted in its order instead, so it keeps the order, not the numbers.
    static let tables: [(name: String, order: String)] = [
        ("tasks", "seq"), ("attempts", "task_id, number"), ("deliveries", "rowid"),
        ("installation_turns", "installation_key"), ("publications", "seq"),
        ("installation_usage", "installation_id, day"), ("publication_refs", "task_id"),
    ]
    /// Rows per INSERT statement (and per read from SQLite).
    static let batch = 200
    /// The host an attempt left running without one is held by (a single host's store).
    static let defaultHost = "local"

    /// Copies `sqlitePath` into the database of `conninfo`.
    public static func run(sqlitePath: String, conninfo: String) throws(StoreMigrationError) -> Summary {
        guard FileManager.default.fileExists(atPath: sqlitePath) else { throw .sourceMissing(path: sqlitePath) }
        // Before opening it ourselves: our own locks would not show, theirs do.
        if SQLiteBackend.isOpenByAnotherProcess(path: sqlitePath) { throw .sourceInUse(path: sqlitePath) }
        let source: SQLiteBackend
        do { source = try SQLiteBackend(path: sqlitePath) } catch {
            throw .sourceUnreadable(path: sqlitePath, reason: "\(error)")
        }
        let target: PostgresBackend
        do { target = try PostgresBackend(conninfo: conninfo, hostID: "store-migrate", poolSize: 2) } catch {
            throw .targetUnreachable(reason: "\(error)")
        }
        do {
            return try source.snapshot { sconn in
                try target.write { pconn in try copy(from: sconn, to: pconn) }
            }.map { ($0.table, $0.rows) }
        } catch let e as StoreMigrationError {
            throw e
        } catch {
            throw .transactionFailed(reason: "\(error)")
        }
    }

    struct Copied: Sendable { var table: String; var rows: Int }

    /// Everything, inside the target's transaction: an error anywhere rolls it all back.
    static func copy(from source: any SQLConnection, to target: any SQLConnection) throws -> [Copied] {
        // No daemon of the fleet may add rows while we look at an empty target and fill it.
        for t in tables {
            try step(t.name) { try target.exec("LOCK TABLE \(t.name) IN SHARE ROW EXCLUSIVE MODE", step: "lock \(t.name)") }
        }
        for t in tables {
            let n = try step(t.name) { Int(try target.scalar("SELECT COUNT(*) FROM \(t.name)").intValue ?? 0) }
            if n > 0 { throw StoreMigrationError.targetNotEmpty(table: t.name, rows: n) }
        }
        var out: [Copied] = []
        for t in tables {
            let columns = try matchingColumns(t.name, source, target)
            let expected = try step(t.name) { Int(try source.scalar("SELECT COUNT(*) FROM \(t.name)").intValue ?? 0) }
            try step(t.name) { try copyRows(t.name, order: t.order, columns: columns, source, target) }
            let copied = try step(t.name) { Int(try target.scalar("SELECT COUNT(*) FROM \(t.name)").intValue ?? 0) }
            guard copied == expected else { throw StoreMigrationError.countMismatch(table: t.name, source: expected, copied: copied) }
            out.append(Copied(table: t.name, rows: copied))
            if t.name == "installation_turns" {
                // Turn numbers continue above every copied one (nothing happens on an empty table).
                try step("claim_turns") {
                    _ = try target.query("SELECT setval('claim_turns', MAX(last_claim) + 1) FROM installation_turns")
                }
            }
        }
        return out
    }

    /// A column of the target table and how its values must be typed (the PostgreSQL
    /// connection sends typed parameters; SQLite's affinity may have stored another type).
    struct Column { var name: String; var type: String }

    /// The target's copyable columns, which must be exactly the source's. Not copied: what
    /// the target assigns or computes itself (bigserial `seq`, generated `installation_key`).
    static func matchingColumns(_ table: String, _ source: any SQLConnection, _ target: any SQLConnection) throws -> [Column] {
        let all = try step(table) {
            try target.query("""
                SELECT column_name, data_type,
                       (is_generated = 'ALWAYS' OR column_default LIKE 'nextval(%') AS assigned
                FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position
                """, [table])
        }
        let assigned = Set(all.filter { $0.int("assigned") == 1 }.compactMap { $0.string("column_name") })
        let theirs = all.filter { $0.int("assigned") != 1 }
            .compactMap { r in r.string("column_name").map { Column(name: $0, type: r.string("data_type") ?? "") } }
        // hidden 0: a stored column (2 and 3 are SQLite's generated ones).
        let ours = try step(table) {
            Set(try source.query("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", [table]).compactMap { $0.string("name") })
                .subtracting(assigned)
        }
        let names = Set(theirs.map(\.name))
        guard names == ours, !theirs.isEmpty else {
            let detail = [("only in SQLite", ours.subtracting(names)), ("only in PostgreSQL", names.subtracting(ours))]
                .filter { !$0.1.isEmpty }.map { "\($0.0): \($0.1.sorted().joined(separator: ", "))" }.joined(separator: "; ")
            throw StoreMigrationError.schemaMismatch(table: table, detail: detail.isEmpty ? "no columns" : detail)
        }
        return theirs
    }

    /// Reads `batch` rows at a time in `order` and inserts them the same way.
    static func copyRows(_ table: String, order: String, columns: [Column], _ source: any SQLConnection,
                         _ target: any SQLConnection) throws {
        let list = columns.map(\.name).joined(separator: ", ")
        let tuple = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        var offset = 0
        while true {
            let rows = try source.query("SELECT \(list) FROM \(table) ORDER BY \(order) LIMIT ? OFFSET ?", [batch, offset])
            if rows.isEmpty { return }
            var params: [any SQLBindable] = []
            params.reserveCapacity(rows.count * columns.count)
            for r in rows { params += values(table, r, columns) }
            let sql = "INSERT INTO \(table) (\(list)) VALUES " + Array(repeating: tuple, count: rows.count).joined(separator: ", ")
            try target.run(sql, params)
            offset += rows.count
        }
    }

    /// One row's values as the target's columns take them. An attempt left running (its
    /// daemon was killed) gets an expired lease, so the fleet takes it over as a crash.
    static func values(_ table: String, _ row: SQLRow, _ columns: [Column]) -> [SQLValue] {
        let running = table == "attempts" && row.string("state") == AttemptState.running.rawValue
        return columns.map { c in
            if running && c.name == "lease_expires" { return .double(0) }
            if running && c.name == "host_id" { return .text(row.string("host_id") ?? defaultHost) }
            return coerce(row[c.name], to: c.type)
        }
    }

    static func coerce(_ v: SQLValue, to type: String) -> SQLValue {
        switch (type, v) {
        case (_, .null): return .null
        case ("bigint", .double(let d)) where d == d.rounded() && abs(d) < 9e18: return .int(Int64(d))
        case ("bigint", .text(let s)): return Int64(s).map(SQLValue.int) ?? v
        case ("double precision", .int(let i)): return .double(Double(i))
        case ("double precision", .text(let s)): return Double(s).map(SQLValue.double) ?? v
        case ("bytea", .text(let s)): return .blob(Data(s.utf8))
        case ("text", .blob(let b)): return .text(String(decoding: b, as: UTF8.self))
        case ("text", .int(let i)): return .text(String(i))
        case ("text", .double(let d)): return .text(String(d))
        default: return v
        }
    }

    /// Runs `body`, naming `table` in whatever it throws.
    @discardableResult
    static func step<T>(_ table: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreMigrationError { throw e } catch {
            throw StoreMigrationError.copyFailed(table: table, reason: "\(error)")
        }
    }
}

extension StoreMigration {
    /// `run` with the connection string read from `urlFile` (0600; its content goes
    /// nowhere but libpq).
    public static func run(sqlitePath: String, urlFile: String) throws(StoreMigrationError) -> Summary {
        // The source's checks first: a missing file is the likelier mistake, and costs no connection.
        guard FileManager.default.fileExists(atPath: sqlitePath) else { throw .sourceMissing(path: sqlitePath) }
        let conninfo: String
        do { conninfo = try PostgresConnection.readConnectionString(file: urlFile) } catch {
            throw .connectionFile(reason: error.description)
        }
        return try run(sqlitePath: sqlitePath, conninfo: conninfo)
    }

    /// The `store.url_file` of the configuration at `configPath`.
    public static func urlFile(configPath: String) throws -> String {
        let config = try ConfigLoader.load(path: configPath)
        guard case .postgres(let p) = config.store else {
            throw ConfigError("store", "is not kind \"postgres\": there is no url_file to migrate to")
        }
        return p.urlFile
    }
}
