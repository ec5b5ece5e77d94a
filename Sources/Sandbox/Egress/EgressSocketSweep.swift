import Foundation

/// Proxy mode's per-sandbox socket directories, `coven-egress-<creator pid>-<random hex>`.
/// The creator removes its own when the sandbox ends; one killed with SIGKILL cannot, and
/// the pid in the name lets a later process recognise what it left behind.
public enum EgressSocketSweep {
    static let prefix = "coven-egress-"

    /// A fresh directory name for this process.
    static func directoryName() -> String {
        prefix + String(getpid()) + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// The creator pid in a `directoryName()`, or nil for any other name.
    static func creatorPID(ofDirectory name: String) -> pid_t? {
        guard name.hasPrefix(prefix) else { return nil }
        let parts = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, !parts[1].isEmpty, UInt64(parts[1], radix: 16) != nil
        else { return nil }
        return pid
    }

    /// Removes the socket directories in `parent` whose creator process is gone (`kill(pid, 0)`
    /// fails with ESRCH) and that this user owns; a live creator's are never touched. Only
    /// `proxy.sock` and the directory itself are removed, through descriptors that do not
    /// follow symlinks (`parent` may be a shared /tmp). Assumes creators run in this pid
    /// namespace, as they do beside the daemon. One readdir; returns the paths removed.
    @discardableResult
    public static func removeStale(in parent: String) -> [String] {
        let parentFD = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else { return [] }
        defer { close(parentFD) }
        guard let dir = fdopendir(dup(parentFD)) else { return [] }
        defer { closedir(dir) }
        var removed: [String] = []
        let prefixBytes = Array(prefix.utf8)
        while let entry = readdir(dir) {
            // Compare the prefix in place: /tmp can be large, and most names are not ours.
            let matches = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.count > prefixBytes.count && zip(raw, prefixBytes).allSatisfy { $0 == $1 }
            }
            guard matches else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let bytes = raw.bindMemory(to: UInt8.self)
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
            }
            guard let pid = creatorPID(ofDirectory: name), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var st = stat()
            let ours = fstat(fd, &st) == 0 && st.st_uid == geteuid()
            if ours { unlinkat(fd, "proxy.sock", 0) }
            close(fd)
            if ours, unlinkat(parentFD, name, AT_REMOVEDIR) == 0 {
                removed.append((parent.hasSuffix("/") ? parent : parent + "/") + name)
            }
        }
        return removed
    }
}
