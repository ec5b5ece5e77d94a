import Foundation
import Synchronization

/// A prepared /dev for sandboxes: a host directory holding the device nodes a
/// runtime needs (null, zero, full, random, urandom, tty: all of them world-usable
/// on any host), mount points for a private devpts and /dev/shm, and the usual links.
/// One read-only bind of it replaces six node binds per launch. It needs mknod, so
/// only root makes one; everyone else gets the per-node /dev.
public enum DevDirectory {
    static let nodes: [(name: String, major: UInt32, minor: UInt32)] = [
        ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]
    static let links: [(String, String)] = [
        ("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
    ]
    static let cached = Mutex<String??>(nil)

    /// The prepared directory, or nil (not root, or it could not be made and checked).
    static func path() -> String? {
        if let c = cached.withLock({ $0 }) { return c }
        let p = geteuid() == 0 ? prepare(in: "/var/cache/coven-supervisor") : nil
        cached.withLock { $0 = .some(p) }
        return p
    }

    static func prepare(in parent: String) -> String? {
        let dir = parent + "/dev-v1"
        if isValid(dir) { return dir }
        try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        let tmp = parent + "/.dev-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(tmp, 0o755) == 0 else { return nil }
        chmod(tmp, 0o755)
        var ok = true
        for n in nodes {
            let path = tmp + "/" + n.name
            ok = ok && mknod(path, S_IFCHR | 0o666, makedev(n.major, n.minor)) == 0 && chmod(path, 0o666) == 0
        }
        ok = ok && mkdir(tmp + "/pts", 0o755) == 0 && mkdir(tmp + "/shm", 0o1777) == 0 && chmod(tmp + "/shm", 0o1777) == 0
        for (name, target) in links { ok = ok && symlink(target, tmp + "/" + name) == 0 }
        if ok {
            try? FileManager.default.removeItem(atPath: dir)   // an invalid leftover
            ok = rename(tmp, dir) == 0
        }
        if !ok { try? FileManager.default.removeItem(atPath: tmp) }
        return ok && isValid(dir) ? dir : nil
    }

    /// Exactly our nodes, owned by root, nothing writable by others but shm.
    static func isValid(_ dir: String) -> Bool {
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0, st.st_mode & 0o022 == 0 else { return false }
        for n in nodes {
            guard lstat(dir + "/" + n.name, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR, st.st_uid == 0,
                  st.st_rdev == makedev(n.major, n.minor) else { return false }
        }
        for d in ["pts", "shm"] {
            guard lstat(dir + "/" + d, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0 else { return false }
        }
        let names = (DirectoryEntries.names(dir) ?? []).sorted()
        return names == (nodes.map(\.name) + ["pts", "shm"] + links.map(\.0)).sorted()
    }

    static func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        dev_t((UInt64(major & 0xfffff000) << 32) | (UInt64(major & 0xfff) << 8)
              | (UInt64(minor & 0xffffff00) << 12) | UInt64(minor & 0xff))
    }
}
