import Foundation
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// Structured logs: one JSON object per line on stderr, with a time, a component
/// and an event name. Callers pass identifiers and states, never secrets or bodies.
///
/// The line is written by hand (keys sorted, strings escaped as JSON requires) and the
/// time formatted with `gmtime_r`: the daemon logs a line per webhook delivery, and a
/// formatter plus `JSONSerialization` per line cost more than the rest of a `ping`.
public struct JSONLog: Sendable {
    public let component: String
    public init(component: String) { self.component = component }

    public func event(_ name: String, _ fields: [String: String]) {
        var bytes = lineBytes(name, fields, at: Date())
        bytes.append(0x0a)
        // One write(2) per line, so lines from concurrent threads never interleave.
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// The keys every line has; a caller's field of the same name is kept as `<key>_field`
    /// rather than lost.
    static let reservedKeys = ["ts", "component", "event"]

    /// One line, without its newline.
    func line(_ name: String, _ fields: [String: String], at date: Date = Date()) -> Data? {
        Data(lineBytes(name, fields, at: date))
    }

    private func lineBytes(_ name: String, _ fields: [String: String], at date: Date) -> [UInt8] {
        var entries: [(key: String, value: String)] = []
        entries.reserveCapacity(fields.count + 3)
        for (k, v) in fields { entries.append((Self.reservedKeys.contains(k) ? k + "_field" : k, v)) }
        entries.append(("ts", Self.timestamp(date)))
        entries.append(("component", component))
        entries.append(("event", name))
        entries.sort { $0.key < $1.key }
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(e.key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendQuoted(e.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `2026-01-31T12:34:56Z` (what `ISO8601DateFormatter` gives by default).
    static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

/// Small JSON objects of strings and booleans written by hand (keys sorted), for answers
/// sent many times a second where `JSONSerialization` would cost more than the request.
public enum JSONLiteral {
    public enum Value: Sendable {
        case string(String)
        case bool(Bool)
    }

    public static func object(_ fields: [(key: String, value: Value)]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (i, f) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(f.key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch f.value {
            case .string(let s): JSONText.appendQuoted(s, to: &out)
            case .bool(let b): out += Array((b ? "true" : "false").utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
