import Foundation
import Synchronization

/// Hands out host uids/gids from a subordinate range, one per concurrent sandbox,
/// so that two tenants never share a host uid. Used only when running as root.
public final class HostIdentityPool: Sendable {
    public let range: Range<UInt32>
    /// The ids handed out, ascending. An array, not a Set: concurrent sandboxes are few, and
    /// a Set's first use costs a short-lived process (`sandbox exec`) a generic lookup.
    private let inUse = Mutex<[UInt32]>([])

    /// Default: 65536 ids from 300000, outside Debian's usual /etc/subuid ranges (100000+65536*n
    /// are handed to users by `useradd`; pick a range of your own with `--uid-range` on shared hosts).
    public static let shared = HostIdentityPool(range: 300_000..<365_536)

    public init(range: Range<UInt32>) { self.range = range }

    /// The lowest free id, or nil when the range is exhausted.
    public func acquire() -> UInt32? {
        inUse.withLock { used in
            // Lowest free id: the first gap in the ascending list.
            var candidate = range.lowerBound
            var index = 0
            while index < used.count, used[index] == candidate {
                candidate += 1
                index += 1
            }
            guard candidate < range.upperBound else { return nil }
            used.insert(candidate, at: index)
            return candidate
        }
    }

    public func release(_ id: UInt32) {
        inUse.withLock { used in
            if let i = used.firstIndex(of: id) { used.remove(at: i) }
        }
    }

    public var count: Int { inUse.withLock { $0.count } }
}
