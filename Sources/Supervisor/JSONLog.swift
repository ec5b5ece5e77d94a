import Foundation

/// Structured logs: one JSON object per line on stderr, with a time, a component
/// and an event name. Callers pass identifiers and states, never secrets or bodies.
public struct JSONLog: Sendable {
    public let component: String
    public init(component: String) { self.component = component }

    public func event(_ name: String, _ fields: [String: String]) {
        var obj: [String: String] = fields
        obj["ts"] = ISO8601DateFormatter().string(from: Date())
        obj["component"] = component
        obj["event"] = name
        guard var data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return }
        data.append(0x0a)
        FileHandle.standardError.write(data)
    }
}
