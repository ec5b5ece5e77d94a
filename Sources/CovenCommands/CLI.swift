import Foundation
import Sandbox

/// Small helpers shared by the subcommands: argument iteration and messages.
public enum CLI {
    public struct UsageError: Error { public let message: String; public init(_ m: String) { message = m } }

    public static func fail(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Reports what stopped a subcommand, the same way for all of them: a usage error with a
    /// pointer to `--help`, anything else as it is. Returns `status`.
    public static func failure(_ command: String, _ error: Error, status: Int32) -> Int32 {
        if let e = error as? UsageError {
            fail("\(command): \(e.message)\nRun 'coven-supervisor \(command) --help' for usage.")
        } else {
            fail("\(command): \(error)")
        }
        return status
    }

    public static func warn(_ message: String) {
        FileHandle.standardError.write(Data(("coven-supervisor: warning: " + message + "\n").utf8))
    }

    public struct Arguments {
        private var items: [String]
        private var index = 0
        public init(_ items: [String]) { self.items = items }

        public mutating func next() -> String? {
            guard index < items.count else { return nil }
            defer { index += 1 }
            return items[index]
        }

        public mutating func rest() -> [String] {
            defer { index = items.count }
            return Array(items[index...])
        }

        public mutating func value(for option: String) throws -> String {
            guard let v = next() else { throw UsageError("\(option) needs a value") }
            return v
        }

        public mutating func size(for option: String) throws -> UInt64 {
            let v = try value(for: option)
            guard let n = Units.parseSize(v) else { throw UsageError("\(option): '\(v)' is not a size (e.g. 512M, 2G)") }
            return n
        }

        /// `--uid-range START-END`: host uids, END included. Refuses ids below 65536 (the host's
        /// own users; a sandbox running as one could signal its processes) and (uid_t)-1.
        public mutating func uidRange(for option: String) throws -> Range<UInt32> {
            let v = try value(for: option)
            let parts = v.split(separator: "-", omittingEmptySubsequences: false)
            // Digits only: UInt32("+5") would parse.
            guard parts.count == 2, parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
                  let start = UInt32(parts[0]), let end = UInt32(parts[1]) else {
                throw UsageError("\(option): expected START-END, e.g. 400000-465535 (host uids, END included), got '\(v)'")
            }
            guard start <= end else { throw UsageError("\(option): START is above END in '\(v)'") }
            guard start >= HostIdentityPool.lowestAllowedID else {
                throw UsageError("\(option): '\(v)' reaches below \(HostIdentityPool.lowestAllowedID), the host's own users; "
                                 + "pick a range above that no user owns (not in /etc/subuid)")
            }
            guard end < UInt32.max else { throw UsageError("\(option): END must be below \(UInt32.max), which is not a uid") }
            return start..<(end + 1)
        }

        public mutating func duration(for option: String) throws -> Duration {
            let v = try value(for: option)
            guard let d = Units.parseDuration(v) else { throw UsageError("\(option): '\(v)' is not a duration (e.g. 30s, 5m)") }
            return d
        }
    }
}

extension CLI {
    /// A file next to the running executable (the binaries are installed side by side).
    public static func sibling(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
