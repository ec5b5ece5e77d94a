import Foundation

/// What the store's SQL needs of a connection, whichever engine runs it: the SQLite
/// file of one host, or the PostgreSQL server a fleet shares. The statements are
/// written once, in the SQL both accept; placeholders are `?` or `?N` (a PostgreSQL
/// connection turns them into `$N`).
package protocol SQLConnection: AnyObject {
    /// The rows of one statement.
    func query(_ sql: String, _ params: [any SQLBindable]) throws -> [SQLRow]
    /// Runs one statement; returns the number of rows it changed.
    @discardableResult func run(_ sql: String, _ params: [any SQLBindable]) throws -> Int
    /// Runs statements without parameters (a schema migration), `step` naming them in errors.
    func exec(_ sql: String, step: String) throws
    /// Tells the other hosts sharing the database that `channel` has news, once the
    /// transaction commits. A database no other host shares does nothing.
    func notify(_ channel: String, _ payload: String) throws
    /// How this engine spells what the engines spell differently.
    var dialect: SQLDialect { get }
}

extension SQLConnection {
    package func query(_ sql: String) throws -> [SQLRow] { try query(sql, []) }
    @discardableResult package func run(_ sql: String) throws -> Int { try run(sql, []) }
    /// The first column of the first row (`.null` when there is none).
    package func scalar(_ sql: String, _ params: [any SQLBindable] = []) throws -> SQLValue {
        try query(sql, params).first?.values.first ?? .null
    }
}

/// A database error either engine can raise, as far as the store's logic cares.
package protocol SQLFailure: Error {
    /// A constraint failed (unique, primary key, foreign key, check).
    var isConstraint: Bool { get }
}

/// A value bound to or read from a statement.
package enum SQLValue: Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob(Data)

    /// The integer, when this is one.
    package var intValue: Int64? { if case .int(let n) = self { n } else { nil } }
}

package protocol SQLBindable { var sqlValue: SQLValue { get } }
extension Int: SQLBindable { package var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int64: SQLBindable { package var sqlValue: SQLValue { .int(self) } }
extension Int32: SQLBindable { package var sqlValue: SQLValue { .int(Int64(self)) } }
extension Double: SQLBindable { package var sqlValue: SQLValue { .double(self) } }
extension String: SQLBindable { package var sqlValue: SQLValue { .text(self) } }
extension Data: SQLBindable { package var sqlValue: SQLValue { .blob(self) } }
extension Bool: SQLBindable { package var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension Date: SQLBindable { package var sqlValue: SQLValue { .double(timeIntervalSince1970) } }
extension SQLValue: SQLBindable { package var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    package var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row, columns by name.
package struct SQLRow {
    package let columns: [String: Int]
    package let values: [SQLValue]

    package init(columns: [String: Int], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    package subscript(_ name: String) -> SQLValue {
        guard let i = columns[name] else { preconditionFailure("no column \(name) in result") }
        return values[i]
    }
    package func string(_ name: String) -> String? {
        switch self[name] {
        case .text(let s): return s
        case .blob(let d): return String(decoding: d, as: UTF8.self)
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .null: return nil
        }
    }
    package func int(_ name: String) -> Int64? {
        switch self[name] {
        case .int(let i): return i
        case .double(let d): return Int64(d)
        case .text(let s): return Int64(s)
        default: return nil
        }
    }
    package func double(_ name: String) -> Double? {
        switch self[name] {
        case .double(let d): return d
        case .int(let i): return Double(i)
        case .text(let s): return Double(s)
        default: return nil
        }
    }
    package func data(_ name: String) -> Data? {
        switch self[name] {
        case .blob(let d): return d
        case .text(let s): return Data(s.utf8)
        default: return nil
        }
    }
    package func date(_ name: String) -> Date? { double(name).map { Date(timeIntervalSince1970: $0) } }
}

