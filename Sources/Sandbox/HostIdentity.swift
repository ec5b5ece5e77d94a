import Foundation
import Synchronization

/// Hands out host uids/gids from a subordinate range, one per concurrent sandbox,
/// so that two tenants never share a host uid. Used only when running as root.
public final class HostIdentityPool: Sendable {
    public let range: Range<UInt32>
    private let inUse = Mutex<Set<UInt32>>([])

    /// Default: 65536 ids from 300000, outside Debian's usual /etc/subuid ranges (100000+65536*n
    /// are handed to users by `useradd`; pick a range of your own with `--uid-range` on shared hosts).
    public static let shared = HostIdentityPool(range: 300_000..<365_536)

    public init(range: Range<UInt32>) { self.range = range }

    /// The lowest free id, or nil when the range is exhausted.
    public func acquire() -> UInt32? {
        inUse.withLock { used in
            for id in range where !used.contains(id) {
                used.insert(id)
                return id
            }
            return nil
        }
    }

    public func release(_ id: UInt32) {
        _ = inUse.withLock { $0.remove(id) }
    }

    public var count: Int { inUse.withLock { $0.count } }
}
