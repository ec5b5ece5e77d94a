import Foundation
import Sandbox

/// Parsers for option values, each failing with a usage error that names the option.
public enum OptionValue {
    public static func size(_ option: String, _ v: String) throws -> UInt64 {
        guard let n = Units.parseSize(v) else { throw CLI.UsageError("\(option): '\(v)' is not a size (e.g. 512M, 2G)") }
        return n
    }

    public static func duration(_ option: String, _ v: String) throws -> Duration {
        guard let d = Units.parseDuration(v) else { throw CLI.UsageError("\(option): '\(v)' is not a duration (e.g. 30s, 5m)") }
        return d
    }

    /// An integer in `range`.
    public static func integer(_ option: String, _ v: String, in range: ClosedRange<Int>, what: String) throws -> Int {
        guard let n = Int(v), range.contains(n) else { throw CLI.UsageError("\(option): expected \(what), got '\(v)'") }
        return n
    }

    public static func positiveNumber(_ option: String, _ v: String) throws -> Double {
        guard let n = Double(v), n > 0, n.isFinite else { throw CLI.UsageError("\(option): expected a positive number, got '\(v)'") }
        return n
    }

    /// One of `choices`.
    public static func choice<T>(_ option: String, _ v: String, _ choices: [(String, T)]) throws -> T {
        guard let c = choices.first(where: { $0.0 == v }) else {
            let names = choices.map(\.0)
            throw CLI.UsageError("\(option): expected \(names.dropLast().joined(separator: ", ")) or \(names.last ?? ""), got '\(v)'")
        }
        return c.1
    }

    /// `--uid-range START-END`: host uids, END included. Refuses ids below 65536 (the host's
    /// own users; a sandbox running as one could signal its processes) and (uid_t)-1.
    public static func uidRange(_ option: String, _ v: String) throws -> Range<UInt32> {
        let parts = v.split(separator: "-", omittingEmptySubsequences: false)
        // Digits only: UInt32("+5") would parse.
        guard parts.count == 2, parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
              let start = UInt32(parts[0]), let end = UInt32(parts[1]) else {
            throw CLI.UsageError("\(option): expected START-END, e.g. 400000-465535 (host uids, END included), got '\(v)'")
        }
        guard start <= end else { throw CLI.UsageError("\(option): START is above END in '\(v)'") }
        guard start >= HostIdentityPool.lowestAllowedID else {
            throw CLI.UsageError("\(option): '\(v)' reaches below \(HostIdentityPool.lowestAllowedID), the host's own users; "
                                 + "pick a range above that no user owns (not in /etc/subuid)")
        }
        guard end < UInt32.max else { throw CLI.UsageError("\(option): END must be below \(UInt32.max), which is not a uid") }
        return start..<(end + 1)
    }
}
