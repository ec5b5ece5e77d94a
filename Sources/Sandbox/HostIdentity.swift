import Foundation
import Synchronization

/// Why no host uid could be leased.
public enum HostIdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Every id of the range is leased, by this process or by others sharing the lock directory.
    case exhausted(range: Range<UInt32>, lockDirectory: String)
    /// The lock directory cannot be created or opened, or others could write to it.
    case lockDirectory(path: String, errno: Int32, reason: String)
    /// One id's lock file cannot be opened or locked (for another reason than "held").
    case lockFile(path: String, errno: Int32)

    /// The errno a `SandboxError` carries for this error.
    public var code: Int32 {
        switch self {
        case .exhausted: EAGAIN
        case .lockDirectory(_, let e, _), .lockFile(_, let e): e
        }
    }

    public var description: String {
        switch self {
        case .exhausted(let range, let dir):
            return "no free host uid in \(HostIdentityPool.describe(range)): \(range.count) of \(range.count) leased by "
                + "running sandboxes (lock files in \(dir)); widen the range with --uid-range START-END (sandbox exec, "
                + "run-task) or sandbox.uid_range (serve), or wait for sandboxes to finish"
        case .lockDirectory(let path, let e, let reason):
            return "host uid lock directory \(path): \(reason)" + (e != 0 ? ": \(String(cString: strerror(e)))" : "")
        case .lockFile(let path, let e):
            return "host uid lock file \(path): \(String(cString: strerror(e)))"
        }
    }
}

/// Hands out host uids/gids from a subordinate range, one per concurrent sandbox, so that
/// two tenants never share a host uid. Used only when running as root.
///
/// Ids are leased across processes (every `sandbox exec`, `run-task` and the daemon), the
/// way `isolate` leases box ids: id N is held while this process holds `flock(LOCK_EX)` on
/// `<lockDirectory>/N`; the kernel drops the lock when the holder closes it or dies, so a
/// killed process leaks nothing. Lock files are never unlinked: a new file under the same
/// name would let a second process lock "the same" id while the first still holds it.
public final class HostIdentityPool: Sendable {
    public let range: Range<UInt32>
    public let lockDirectory: String

    private struct State {
        /// The ids this process holds, ascending, and the descriptor holding each one's lock.
        /// Arrays, not a dictionary: concurrent sandboxes are few, and a Set's or Dictionary's
        /// first use costs a short-lived process (`sandbox exec`) a generic lookup.
        var ids: [UInt32] = []
        var fds: [Int32] = []
        /// The lock directory, opened at the first acquire (-1 before).
        var directory: Int32 = -1
    }
    private let state = Mutex(State())

    /// Where every process on the host leases its ids unless told otherwise: under the
    /// systemd unit's RuntimeDirectory, so the daemon and CLIs beside it share it.
    public static let defaultLockDirectory = "/run/coven-supervisor/host-uids"

    /// 65536 ids from 300000, outside Debian's usual /etc/subuid ranges (100000+65536*n are
    /// handed to users by `useradd`; pick a range of your own with `--uid-range` on shared hosts).
    public static let defaultRange: Range<UInt32> = 300_000..<365_536

    /// Ids below this are the host's system and login users (and `nobody`, 65534): a
    /// sandbox running as one could signal that user's processes and own its files.
    public static let lowestAllowedID: UInt32 = 65_536

    public static let shared = HostIdentityPool(range: defaultRange)

    public init(range: Range<UInt32>, lockDirectory: String = HostIdentityPool.defaultLockDirectory) {
        self.range = range
        self.lockDirectory = lockDirectory
    }

    deinit {
        state.withLock { s in
            for fd in s.fds { close(fd) }
            if s.directory >= 0 { close(s.directory) }
        }
    }

    /// `START-END`, inclusive, as `--uid-range` takes it.
    public static func describe(_ range: Range<UInt32>) -> String {
        range.isEmpty ? "(empty range)" : "\(range.lowerBound)-\(range.upperBound - 1)"
    }

    /// Leases the lowest id that neither this process nor any other holds. Starts at the
    /// lowest id this process does not hold and moves on past ids another process has
    /// locked, so the common case is one open and one flock.
    public func acquire() throws(HostIdentityError) -> UInt32 {
        try state.withLock { (s: inout State) throws(HostIdentityError) -> UInt32 in
            if s.directory < 0 { s.directory = try Self.openDirectory(lockDirectory) }
            var candidate = range.lowerBound
            var index = 0
            var reopened = false
            while candidate < range.upperBound {
                if index < s.ids.count, s.ids[index] == candidate {
                    candidate += 1
                    index += 1
                    continue
                }
                let name = String(candidate)
                let fd = openat(s.directory, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
                if fd < 0 {
                    let e = errno
                    // The directory was removed under us (an admin, a runtime-directory
                    // cleanup): make it again, once.
                    if e == ENOENT, !reopened {
                        reopened = true
                        close(s.directory)
                        s.directory = -1
                        s.directory = try Self.openDirectory(lockDirectory)
                        continue
                    }
                    throw .lockFile(path: lockDirectory + "/" + name, errno: e)
                }
                var locked = flock(fd, LOCK_EX | LOCK_NB)
                while locked != 0 && errno == EINTR { locked = flock(fd, LOCK_EX | LOCK_NB) }
                if locked != 0 {
                    let e = errno
                    close(fd)
                    guard e == EWOULDBLOCK else { throw .lockFile(path: lockDirectory + "/" + name, errno: e) }
                    candidate += 1   // another process holds it
                    continue
                }
                // Unlinked between our open and our flock: that lock excludes nobody; open the name again.
                var st = stat()
                if fstat(fd, &st) == 0, st.st_nlink == 0 {
                    close(fd)
                    continue
                }
                s.ids.insert(candidate, at: index)
                s.fds.insert(fd, at: index)
                return candidate
            }
            throw .exhausted(range: range, lockDirectory: lockDirectory)
        }
    }

    /// Gives the id back: its lock file's descriptor is closed, which drops the lock.
    public func release(_ id: UInt32) {
        state.withLock { s in
            guard let i = s.ids.firstIndex(of: id) else { return }
            close(s.fds[i])
            s.ids.remove(at: i)
            s.fds.remove(at: i)
        }
    }

    /// How many ids this process holds.
    public var count: Int { state.withLock { $0.ids.count } }

    /// Opens the lock directory, creating it (0700, missing parents 0755) if needed. Refuses
    /// one that is not ours or that others may write to: they could hold every id, or
    /// replace lock files.
    static func openDirectory(_ path: String) throws(HostIdentityError) -> Int32 {
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 && errno == ENOENT {
            try makeDirectory(path)
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        }
        guard fd >= 0 else { throw .lockDirectory(path: path, errno: errno, reason: "cannot open") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .lockDirectory(path: path, errno: e, reason: "cannot stat")
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            close(fd)
            throw .lockDirectory(path: path, errno: 0, reason: "must be owned by uid \(geteuid()) and writable by nobody else "
                                 + "(owner \(st.st_uid), mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
        return fd
    }

    private static func makeDirectory(_ path: String) throws(HostIdentityError) {
        var prefix = ""
        let parts = path.split(separator: "/")
        for (i, part) in parts.enumerated() {
            prefix += (prefix.isEmpty && !path.hasPrefix("/") ? "" : "/") + part
            let last = i == parts.count - 1
            let mode: mode_t = last ? 0o700 : 0o755
            if mkdir(prefix, mode) == 0 {
                chmod(prefix, mode)   // whatever the umask
            } else if errno != EEXIST {
                throw .lockDirectory(path: path, errno: errno, reason: "cannot create \(prefix)")
            }
        }
    }
}
