import Foundation
import Sandbox

/// Small helpers shared by the subcommands: argument iteration and messages.
enum CLI {
    struct UsageError: Error { let message: String; init(_ m: String) { message = m } }

    static func fail(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data(("coven-supervisor: warning: " + message + "\n").utf8))
    }

    struct Arguments {
        private var items: [String]
        private var index = 0
        init(_ items: [String]) { self.items = items }

        mutating func next() -> String? {
            guard index < items.count else { return nil }
            defer { index += 1 }
            return items[index]
        }

        mutating func rest() -> [String] {
            defer { index = items.count }
            return Array(items[index...])
        }

        mutating func value(for option: String) throws -> String {
            guard let v = next() else { throw UsageError("\(option) needs a value") }
            return v
        }

        mutating func size(for option: String) throws -> UInt64 {
            let v = try value(for: option)
            guard let n = Units.parseSize(v) else { throw UsageError("\(option): '\(v)' is not a size (e.g. 512M, 2G)") }
            return n
        }

        mutating func duration(for option: String) throws -> Duration {
            let v = try value(for: option)
            guard let d = Units.parseDuration(v) else { throw UsageError("\(option): '\(v)' is not a duration (e.g. 30s, 5m)") }
            return d
        }
    }
}
