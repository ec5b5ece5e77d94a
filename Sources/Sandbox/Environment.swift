import Foundation

/// Cheap process-environment reads (one `getenv`, not a dictionary of the whole
/// environment as `ProcessInfo` builds): these sit on `sandbox exec`'s start-up path.
enum Environment {
    static func value(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }

    /// The directory of the running executable.
    static func executableDirectory() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let path = buf[0..<n].withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}

/// Our cache directories: `/var/cache/coven-supervisor/<name>` for root, else under
/// `$XDG_CACHE_HOME` or `~/.cache`. A directory is used only if we own it and nobody
/// else can write to it (what is cached there is trusted: compiled filters, /etc).
enum CacheDirectory {
    /// - Parameter mode: 0700 for private caches, 0755 for what sandbox uids must traverse.
    static func path(_ name: String, mode: mode_t) -> String? {
        let base: String
        if geteuid() == 0 {
            base = "/var/cache/coven-supervisor/" + name
        } else if let x = Environment.value("XDG_CACHE_HOME"), x.hasPrefix("/") {
            base = x + "/coven-supervisor/" + name
        } else if let h = Environment.value("HOME"), h.hasPrefix("/") {
            base = h + "/.cache/coven-supervisor/" + name
        } else {
            return nil
        }
        return trusted(base, mode: mode)
    }

    /// Creates `dir` if needed and returns it when it is ours and not writable by others.
    static func trusted(_ dir: String, mode: mode_t) -> String? {
        var st = stat()
        if lstat(dir, &st) != 0 {
            makeDirectories(dir, mode: mode)
        }
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            return nil
        }
        return dir
    }

    /// mkdir -p with `mode` for every directory it makes (chmod'ed past the umask).
    static func makeDirectories(_ dir: String, mode: mode_t) {
        var path = ""
        for component in dir.split(separator: "/") {
            path += "/" + component
            if mkdir(path, mode) == 0 { chmod(path, mode) }
        }
    }
}
