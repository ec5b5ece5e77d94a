import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Plain POSIX access to cgroupfs: every failure becomes a `CgroupError` naming the file and errno.
enum CgroupFS {
    // MARK: errno

    static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
            E2BIG: "E2BIG", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES",
            EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV",
            ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
            ENOSPC: "ENOSPC", EROFS: "EROFS", ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG",
            ENOTEMPTY: "ENOTEMPTY", EOPNOTSUPP: "EOPNOTSUPP", ENOSYS: "ENOSYS",
        ]
        let text = String(cString: strerror(e))
        return "\(names[e] ?? "errno \(e)") (\(text))"
    }

    // MARK: files

    /// Writes `value` to a cgroup control file in a single write(2), as cgroupfs requires.
    static func write(_ value: String, to path: String, hint: String? = nil) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw error("write \(value) to \(path)", path: path, errno: e, hint: hint)
        }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n == bytes.count { return }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw error("write \(value) to \(path)", path: path, errno: e, hint: hint)
            }
            throw CgroupError("cgroup: write \(value) to \(path): short write (\(n) of \(bytes.count) bytes)", path: path)
        }
    }

    static func error(_ what: String, path: String, errno e: Int32, hint: String? = nil) -> CgroupError {
        var text = "cgroup: \(what): \(errnoName(e))"
        if let hint { text += " — \(hint)" }
        return CgroupError(text, path: path, errno: e)
    }

    /// Reads a whole (small) cgroupfs file.
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw error("read \(path)", path: path, errno: e)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw error("read \(path)", path: path, errno: e)
            }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads a file, nil on any error.
    static func readIfPresent(_ path: String) -> String? { try? read(path) }

    /// Reads a file holding one unsigned number ("max" counts as absent).
    static func readUInt(_ path: String) -> UInt64? {
        guard let text = readIfPresent(path) else { return nil }
        return parseUInt(text)
    }

    /// A decimal number with optional surrounding ASCII whitespace. Byte-level on purpose:
    /// Foundation's trimming costs a process its first generic-conformance lookups
    /// (~0.1 ms), and this runs when every short-lived `sandbox exec` reports.
    static func parseUInt(_ text: String) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0, trailing = false
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if trailing { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b &- UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                value = a
                digits += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                if digits > 0 { trailing = true }
            default:
                return nil
            }
        }
        return digits > 0 ? value : nil
    }

    /// The value of `key` in a flat-keyed file ("key value" per line: memory.events, cpu.stat,
    /// memory.oom_control, cgroup.events, pids.events).
    static func keyedValue(_ key: String, in path: String) -> UInt64? {
        guard let text = readIfPresent(path) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The space-separated words of a cgroupfs list file (cgroup.controllers, subtree_control).
    static func words(_ text: String?) -> Set<String> {
        Set((text ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// The keys of a flat-keyed file ("key value" per line).
    static func keys(in path: String) -> Set<String> {
        Set((readIfPresent(path) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// True when `ancestor` is among `pid`'s parents (read from /proc/<pid>/stat), up to a
    /// bounded depth.
    static func isDescendant(_ pid: pid_t, of ancestor: pid_t) -> Bool {
        var current = pid
        for _ in 0..<64 {
            guard let stat = readIfPresent("/proc/\(current)/stat"), let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { return false }
            if parent == ancestor { return true }
            if parent <= 1 { return false }
            current = parent
        }
        return false
    }

    static func writable(_ path: String) -> Bool { access(path, W_OK) == 0 }

    // MARK: directories

    /// Makes a sandbox's fresh cgroup `leaf` and, unless this process already has, its parent
    /// (`.../coven`): the parent outlives every sandbox, and an EEXIST mkdir per hierarchy per
    /// launch is time on every launch's path. A parent removed behind our back is made again.
    static func makeLeaf(_ leaf: String) throws {
        guard let slash = leaf.lastIndex(of: "/") else { return try makeFreshDirectory(leaf) }
        let parent = String(leaf[..<slash])
        if !madeParents.withLock({ $0.contains(parent) }) {
            try makeDirectory(parent)
            madeParents.withLock { $0.append(parent) }
        }
        do {
            try makeFreshDirectory(leaf)
        } catch let e as CgroupError where e.errnoCode == ENOENT {
            try makeDirectory(parent)
            try makeFreshDirectory(leaf)
        }
    }

    private static let madeParents = Mutex<[String]>([])

    /// mkdir that treats "already exists" as success.
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        let e = errno
        if e == EEXIST { return }
        throw error("mkdir \(path)", path: path, errno: e)
    }

    /// Creates a fresh leaf cgroup. A leftover directory of the same name is removed first when
    /// it is empty (rmdir succeeds only then); one that is still in use is an error.
    static func makeFreshDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        let e = errno
        if e == EEXIST {
            if removeTree(path, timeout: 0) && mkdir(path, 0o755) == 0 { return }
            throw error("mkdir \(path)", path: path, errno: EEXIST,
                        hint: "a cgroup of that name already exists and still has processes or cannot be removed")
        }
        throw error("mkdir \(path)", path: path, errno: e)
    }

    /// The child cgroups (subdirectories) of a cgroup directory.
    static func childCgroups(_ dir: String) -> [String] {
        guard let names = DirectoryEntries.names(dir) else { return [] }
        var out: [String] = []
        for name in names {
            let path = dir + "/" + name
            var st = stat()
            if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { out.append(path) }
        }
        return out
    }

    /// rmdir `dir` after its descendants, deepest first. ENOENT counts as removed. Retries EBUSY
    /// (processes still exiting) until `timeout` seconds have passed. Returns true when gone.
    @discardableResult
    static func removeTree(_ dir: String, timeout: Double) -> Bool {
        // Usually a leaf: one rmdir, without listing (and stat-ing) its dozens of control files.
        if rmdir(dir) == 0 || errno == ENOENT { return true }
        for child in childCgroups(dir) { _ = removeTree(child, timeout: timeout) }
        var gone = false
        _ = poll(timeout: timeout) {
            if rmdir(dir) == 0 || errno == ENOENT {
                gone = true
                return true
            }
            return errno != EBUSY && errno != EAGAIN  // other errors will not go away by waiting
        }
        return gone
    }

    /// The pids in `dir`'s cgroup.procs and in those of its descendants.
    static func processes(inTree dir: String) -> [pid_t] {
        var out = processes(in: dir)
        for child in childCgroups(dir) { out += processes(inTree: child) }
        return out
    }

    static func processes(in dir: String) -> [pid_t] {
        guard let text = readIfPresent(dir + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    // MARK: time

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Calls `condition` until it returns true or `timeout` seconds pass, backing off from 1 ms to
    /// 20 ms between tries. Always tries at least once. Returns the last result.
    @discardableResult
    static func poll(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = monotonicSeconds() + timeout
        var delay: useconds_t = 1_000
        while true {
            if condition() { return true }
            if monotonicSeconds() >= deadline { return false }
            usleep(delay)
            delay = min(delay * 2, 20_000)
        }
    }

    // MARK: signals

    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private typealias PidfdSendSignal = @convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UInt32) -> Int32

    /// SIGKILLs `pid` only if it is (still) a member of `dir`'s cgroup tree, closing the window in
    /// which a pid read from cgroup.procs exits and is reused by an unrelated process: a pidfd
    /// pins the process first, then membership is re-checked, then the signal goes to the pidfd.
    /// Falls back to plain kill(2) when glibc has no pidfd_open (glibc < 2.36).
    static func killIfMember(_ pid: pid_t, of dirs: [String]) {
        guard let openSym = dlsym(nil, "pidfd_open"), let sendSym = dlsym(nil, "pidfd_send_signal") else {
            _ = kill(pid, SIGKILL)
            return
        }
        let pidfdOpen = unsafeBitCast(openSym, to: PidfdOpen.self)
        let pidfdSend = unsafeBitCast(sendSym, to: PidfdSendSignal.self)
        let fd = pidfdOpen(pid, 0)
        if fd < 0 {
            if errno == ENOSYS { _ = kill(pid, SIGKILL) }
            return  // ESRCH: already gone
        }
        defer { close(fd) }
        guard dirs.contains(where: { processes(inTree: $0).contains(pid) }) else { return }
        _ = pidfdSend(fd, SIGKILL, nil, 0)
    }

    // MARK: statfs

    static let cgroup2SuperMagic: Int = 0x6367_7270

    private typealias Statfs = @convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32

    /// f_type of the filesystem at `path`, nil if statfs is unavailable or fails.
    /// (Glibc's Swift module does not export <sys/statfs.h>; f_type is the first field, a
    /// native word, of struct statfs on 64-bit Linux.)
    static func filesystemType(_ path: String) -> Int? {
        #if arch(x86_64) || arch(arm64)
        guard let sym = dlsym(nil, "statfs") else { return nil }
        let fn = unsafeBitCast(sym, to: Statfs.self)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        guard fn(path, buffer) == 0 else { return nil }
        return buffer.load(as: Int.self)
        #else
        return nil
        #endif
    }
}
