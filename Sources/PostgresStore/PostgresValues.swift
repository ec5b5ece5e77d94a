import Foundation
import Supervisor

/// How SQLValues travel to and from the server: parameters with explicit type OIDs
/// (so `?` never leaves the server guessing a type), results in text form decoded
/// by their column's type.
enum PostgresValues {
    // Type OIDs from pg_type.dat: stable across PostgreSQL versions.
    static let bool: UInt32 = 16, bytea: UInt32 = 17, int8: UInt32 = 20, int2: UInt32 = 21
    static let int4: UInt32 = 23, text: UInt32 = 25, oid: UInt32 = 26
    static let float4: UInt32 = 700, float8: UInt32 = 701, numeric: UInt32 = 1700

    /// One parameter as PQexecParams takes it: type, bytes (nil for NULL), format
    /// (0 text, 1 binary).
    struct Parameter {
        var type: UInt32
        var bytes: [UInt8]?
        var binary: Bool
    }

    static func parameter(_ value: SQLValue) -> Parameter {
        switch value {
        case .null: return Parameter(type: 0, bytes: nil, binary: false)
        case .int(let i): return Parameter(type: int8, bytes: Array(String(i).utf8), binary: false)
        case .double(let d): return Parameter(type: float8, bytes: Array(float8Text(d).utf8), binary: false)
        case .text(let s): return Parameter(type: text, bytes: Array(s.utf8), binary: false)
        // Binary format: the bytes as they are, no escaping.
        case .blob(let b): return Parameter(type: bytea, bytes: [UInt8](b), binary: true)
        }
    }

    /// Swift's description is the shortest text that reads back as the same Double;
    /// the specials get the spelling float8in documents.
    static func float8Text(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return String(describing: d)
    }

    /// A result cell in text form, decoded by its column's type OID.
    static func decode(_ cell: UnsafeBufferPointer<UInt8>, type: UInt32) -> SQLValue {
        switch type {
        case int2, int4, int8, oid:
            return Int64(String(decoding: cell, as: UTF8.self)).map(SQLValue.int) ?? .text(String(decoding: cell, as: UTF8.self))
        case float4, float8, numeric:
            return .double(double(String(decoding: cell, as: UTF8.self)))
        case bool:
            return .int(cell.first == UInt8(ascii: "t") ? 1 : 0)
        case bytea:
            return .blob(byteaHex(cell) ?? Data(cell))
        default:
            return .text(String(decoding: cell, as: UTF8.self))
        }
    }

    static func double(_ s: String) -> Double {
        switch s {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(s) ?? .nan
        }
    }

    /// bytea's text output `\x0aff…` (bytea_output = hex, which the connection sets).
    static func byteaHex(_ cell: UnsafeBufferPointer<UInt8>) -> Data? {
        guard cell.count >= 2, cell[0] == UInt8(ascii: "\\"), cell[1] == UInt8(ascii: "x"), cell.count % 2 == 0 else { return nil }
        return Hex.decode(cell[2...]).map { Data($0) }
    }
}
