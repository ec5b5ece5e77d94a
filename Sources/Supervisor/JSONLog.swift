import Foundation

/// Structured logs: one JSON object per line on stderr, with a time, a component
/// and an event name. Callers pass identifiers and states, never secrets or bodies.
public struct JSONLog: Sendable {
    public let component: String
    public init(component: String) { self.component = component }

    public func event(_ name: String, _ fields: [String: String]) {
        guard var data = line(name, fields) else { return }
        data.append(0x0a)
        FileHandle.standardError.write(data)
    }

    /// The keys every line has; a caller's field of the same name is kept as `<key>_field`
    /// rather than lost.
    static let reservedKeys = ["ts", "component", "event"]

    /// One line, without its newline.
    func line(_ name: String, _ fields: [String: String], at date: Date = Date()) -> Data? {
        var obj: [String: String] = [:]
        for (k, v) in fields { obj[Self.reservedKeys.contains(k) ? k + "_field" : k] = v }
        obj["ts"] = ISO8601DateFormatter().string(from: date)
        obj["component"] = component
        obj["event"] = name
        return try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
    }
}
