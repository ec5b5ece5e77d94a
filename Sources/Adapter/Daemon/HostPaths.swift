import Foundation
import Sandbox

/// Questions about host paths that sandboxes must reach.
///
/// When the daemon runs as root, each sandbox runs as a host uid of its own that owns
/// nothing on the host, so bind sources (the attempt directory, the runtime) are
/// reached through the "other" permission bits: every directory on the way needs o+x.
public enum HostPaths {
    /// System directories the sandbox always sees (read-only).
    public static let systemPrefixes = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/"]

    /// True when every directory from `/` down to `path` (itself included, when it is a
    /// directory) can be traversed by a uid that owns none of them.
    public static func traversableByOthers(_ path: String) -> Bool {
        var current = ""
        let parts = (path as NSString).standardizingPath.split(separator: "/")
        var st = stat()
        guard stat("/", &st) == 0, st.st_mode & S_IXOTH != 0 else { return false }
        for part in parts {
            current += "/" + part
            guard stat(current, &st) == 0 else { return false }
            if st.st_mode & S_IFMT == S_IFDIR && st.st_mode & S_IXOTH == 0 { return false }
        }
        return true
    }

    /// Where the runtime's command `argv0` is found from inside the sandbox, mapped back
    /// to the host: through a bind (destination prefix → source), the system
    /// directories, or the sandbox's PATH for a bare name. Nil when it is not visible.
    public static func hostPath(ofSandboxCommand argv0: String, binds: [Bind]) -> String? {
        if !argv0.hasPrefix("/") {
            for dir in ["/usr/local/bin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + argv0) {
                return dir + "/" + argv0
            }
            return nil
        }
        for b in binds.reversed() {
            if argv0 == b.destination { return b.source }
            let prefix = b.destination.hasSuffix("/") ? b.destination : b.destination + "/"
            if argv0.hasPrefix(prefix) { return b.source + "/" + argv0.dropFirst(prefix.count) }
        }
        if systemPrefixes.contains(where: { argv0.hasPrefix($0) }) { return argv0 }
        return nil
    }
}
