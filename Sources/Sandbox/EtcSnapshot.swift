import Foundation
import Synchronization

/// The sandbox's /etc as ONE read-only bind instead of ~20: a snapshot directory
/// holding copies of the curated /etc entries (TLS roots, resolver, loader cache,
/// alternatives...) plus our generated passwd and group. Only what every host user
/// may read is copied (files with o+r, directories with o+rx; symlinks as they are),
/// so a snapshot never exposes more than the individual binds would.
///
/// Snapshots are rebuilt when the sources change (checked at most every few
/// seconds) under a new name; old ones stay (a running sandbox may have one
/// mounted) and are pruned after a day.
public enum EtcSnapshot {
    struct State { var path: String; var signature: UInt64; var checkedAt: ContinuousClock.Instant }
    static let state = Mutex<State?>(nil)
    static let checkInterval: Duration = .seconds(5)

    /// The snapshot directory for `entries` (names under /etc), or nil when none can be made.
    static func current(entries: [String], generated: [String: String]) -> String? {
        let now = ContinuousClock.now
        if let s = state.withLock({ $0 }), now - s.checkedAt < checkInterval { return s.path }
        guard let base = baseDirectory() else { return nil }
        // Another process checked the sources moments ago (the `current` link's age): trust it.
        if state.withLock({ $0 }) == nil, let recent = recentlyChecked(base) {
            state.withLock { $0 = State(path: recent, signature: 0, checkedAt: now) }
            return recent
        }
        let sig = signature(entries: entries, generated: generated)
        let name = "etc-" + String(sig, radix: 16)
        if let s = state.withLock({ $0 }), s.path == base + "/" + name, FileManager.default.fileExists(atPath: s.path) {
            state.withLock { $0?.checkedAt = now }
            markChecked(base, name)
            return s.path
        }
        let target = base + "/" + name
        if !FileManager.default.fileExists(atPath: target) {
            let tmp = base + "/.build-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard mkdir(tmp, 0o755) == 0 else { return nil }
            chmod(tmp, 0o755)
            for e in entries { copy("/etc/" + e, to: tmp + "/" + e) }
            for (n, content) in generated {
                FileManager.default.createFile(atPath: tmp + "/" + n, contents: Data(content.utf8))
                chmod(tmp + "/" + n, 0o644)
            }
            if rename(tmp, target) != 0 {
                try? FileManager.default.removeItem(atPath: tmp)
                guard FileManager.default.fileExists(atPath: target) else { return nil }
            }
            prune(base, keep: name)
        }
        state.withLock { $0 = State(path: target, signature: sig, checkedAt: now) }
        markChecked(base, name)
        return target
    }

    /// `<base>/current` names the snapshot last found up to date; its mtime says when.
    /// Short-lived processes (`sandbox exec`) reuse a check younger than `checkInterval`.
    static func recentlyChecked(_ base: String) -> String? {
        var st = stat()
        guard lstat(base + "/current", &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
        let age = Date().timeIntervalSince1970 - (Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        guard age >= 0, age < checkInterval.seconds,
              let name = try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/current"),
              name.hasPrefix("etc-"), !name.contains("/") else { return nil }
        let path = base + "/" + name
        var dst = stat()
        guard lstat(path, &dst) == 0, (dst.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return path
    }

    static func markChecked(_ base: String, _ name: String) {
        let tmp = base + "/.current-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard symlink(name, tmp) == 0 else { return }
        if rename(tmp, base + "/current") != 0 { unlink(tmp) }
    }

    static func baseDirectory() -> String? {
        // Traversable by sandbox uids (0755); writable only by us.
        guard let base = CacheDirectory.path("etc", mode: 0o755) else { return nil }
        chmod(base, 0o755)
        if geteuid() == 0 { chmod("/var/cache/coven-supervisor", 0o755) }
        return base
    }

    /// A hash over the curated entries' type, mode, size and mtime, and over the mtime
    /// of every directory below them (a directory's mtime moves whenever an entry in it
    /// is added, removed or replaced, which is how packages and update-alternatives /
    /// update-ca-certificates change /etc). Files edited in place deeper down are picked
    /// up when the snapshot ages out (`maxAge`). Cheap enough for every `sandbox exec`.
    static func signature(entries: [String], generated: [String: String]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) { for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }
        func dirs(_ path: String, depth: Int) {
            guard depth < 6, let d = opendir(path) else { return }
            defer { closedir(d) }
            while let e = readdir(d) {
                guard e.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name == "." || name == ".." { continue }
                let sub = path + "/" + name
                var st = stat()
                guard lstat(sub, &st) == 0 else { continue }
                mix("\(sub):\(st.st_mode):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec);")
                dirs(sub, depth: depth + 1)
            }
        }
        for e in entries {
            let path = "/etc/" + e
            var st = stat()
            guard lstat(path, &st) == 0 else { mix(path + ":absent;"); continue }
            mix("\(path):\(st.st_mode):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec);")
            if (st.st_mode & S_IFMT) == S_IFDIR { dirs(path, depth: 0) }
        }
        for (n, c) in generated.sorted(by: { $0.key < $1.key }) { mix(n + "=" + c) }
        // Age out hourly, so in-place edits deep inside are never stale for long.
        mix("epoch-hour:\(Int(Date().timeIntervalSince1970) / 3600)")
        return h
    }

    /// Copies what every user may read: symlinks as-is, o+r files, o+rx directories.
    static func copy(_ src: String, to dst: String) {
        var st = stat()
        guard lstat(src, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: src) { symlink(target, dst) }
        case S_IFREG where st.st_mode & 0o004 != 0:
            guard let data = FileManager.default.contents(atPath: src) else { return }
            FileManager.default.createFile(atPath: dst, contents: data)
            chmod(dst, st.st_mode & 0o111 != 0 ? 0o755 : 0o644)
        case S_IFDIR where st.st_mode & 0o005 == 0o005:
            guard mkdir(dst, 0o755) == 0 else { return }
            chmod(dst, 0o755)
            for n in DirectoryEntries.names(src) ?? [] {
                copy(src + "/" + n, to: dst + "/" + n)
            }
        default:
            return
        }
    }

    /// Removes snapshots other than `keep` that are more than a day old.
    static func prune(_ base: String, keep: String) {
        let cutoff = Date().addingTimeInterval(-86_400)
        for n in DirectoryEntries.names(base) ?? [] where n != keep && n.hasPrefix("etc-") && n != "current" {
            let p = base + "/" + n
            if let m = (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date, m < cutoff {
                try? FileManager.default.removeItem(atPath: p)
            }
        }
    }
}
