import Foundation
import Synchronization

/// One step of the sandbox filesystem, in the order it is applied.
public struct MountEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case bindReadOnly(source: String)
        case bindWritable(source: String)
        case tmpfs(options: String)
        case proc
        case dev
        /// /dev as one read-only bind of a prepared host directory (see DevDirectory).
        case preparedDev(source: String)
        case directory(mode: UInt32)
        case symlink(target: String)
        case file(contents: String, mode: UInt32)
    }
    public var kind: Kind
    public var destination: String
    public var optional: Bool

    public init(_ kind: Kind, at destination: String, optional: Bool = false) {
        self.kind = kind; self.destination = destination; self.optional = optional
    }
}

/// Builds the filesystem of a sandbox: system directories read-only, fresh /proc and
/// /dev, tmpfs /tmp and /workspace, /run for supervisor files, then the spec's binds
/// and files. Nothing else of the host is visible.
public enum MountPlan {
    /// Top-level system directories taken from the host (or rootfs). On merged-/usr
    /// systems /bin, /lib... are symlinks and are recreated as such.
    static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// The part of the host's /etc a runtime needs: TLS roots, name resolution, the
    /// dynamic loader, alternatives, time zone. Not the rest (no host secrets, no daemon config).
    static let etcEntries = [
        "alternatives", "ssl", "ca-certificates", "ca-certificates.conf", "resolv.conf", "hosts",
        "nsswitch.conf", "host.conf", "gai.conf", "localtime", "timezone", "ld.so.cache", "ld.so.conf",
        "ld.so.conf.d", "protocols", "services", "mime.types", "os-release", "debian_version",
        "python3", "perl", "bash.bashrc", "profile", "inputrc", "magic", "terminfo",
    ]

    /// The host's system entries, looked up at most every few seconds (each launch
    /// would otherwise stat ~35 paths; /etc changes rarely, and a changed entry is
    /// picked up within the interval).
    static let hostCache = Mutex<(at: ContinuousClock.Instant, entries: [MountEntry])?>(nil)
    static let hostCacheTTL: Duration = .seconds(5)

    static func hostSystemEntries(includeEtc: Bool) -> [MountEntry] {
        let now = ContinuousClock.now
        let all: [MountEntry]
        if let c = hostCache.withLock({ $0 }), now - c.at < hostCacheTTL { all = c.entries } else { all = lookUpHostSystemEntries(now) }
        return includeEtc ? all : all.filter { !$0.destination.hasPrefix("/etc/") }
    }

    static func lookUpHostSystemEntries(_ now: ContinuousClock.Instant) -> [MountEntry] {
        var out: [MountEntry] = []
        var buf = [CChar](repeating: 0, count: 4096)
        for path in systemDirectories + etcEntries.map({ "/etc/" + $0 }) {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let n = readlink(path, &buf, buf.count - 1)
                guard n > 0 else { continue }
                let target = buf[0..<n].withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
                out.append(MountEntry(.symlink(target: target), at: path))
            } else {
                out.append(MountEntry(.bindReadOnly(source: path), at: path, optional: true))
            }
        }
        hostCache.withLock { $0 = (now, out) }
        return out
    }

    public static func entries(for spec: SandboxSpec) -> [MountEntry] {
        var out: [MountEntry] = []
        let fm = FileManager.default

        func systemEntry(hostPath: String, destination: String, optional: Bool) {
            if let target = try? fm.destinationOfSymbolicLink(atPath: hostPath) {
                out.append(MountEntry(.symlink(target: target), at: destination))
            } else if fm.fileExists(atPath: hostPath) {
                out.append(MountEntry(.bindReadOnly(source: hostPath), at: destination, optional: optional))
            }
        }

        let uid = SandboxSpec.innerUID, gid = SandboxSpec.innerGID
        let passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\ncoven:x:\(uid):\(gid):coven:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        let group = "root:x:0:\ncoven:x:\(gid):\nnogroup:x:65534:\n"
        var etcDone = false
        switch spec.systemFiles {
        case .host:
            // One bind of a snapshot for all of /etc, unless the spec writes files there itself.
            let specWritesEtc = spec.files.contains { $0.path.hasPrefix("/etc/") } || spec.binds.contains { $0.destination.hasPrefix("/etc") }
            if !specWritesEtc, let snap = EtcSnapshot.current(entries: etcEntries, generated: ["passwd": passwd, "group": group]) {
                out += hostSystemEntries(includeEtc: false)
                out.append(MountEntry(.bindReadOnly(source: snap), at: "/etc"))
                etcDone = true
            } else {
                out += hostSystemEntries(includeEtc: true)
            }
        case .rootfs(let root):
            let base = root.hasSuffix("/") ? String(root.dropLast()) : root
            for dir in systemDirectories + ["/etc", "/opt"] {
                systemEntry(hostPath: base + dir, destination: dir, optional: true)
            }
        }

        out.append(MountEntry(.proc, at: "/proc"))
        if let dev = DevDirectory.path() {
            out.append(MountEntry(.preparedDev(source: dev), at: "/dev"))
        } else {
            out.append(MountEntry(.dev, at: "/dev"))
        }
        out.append(MountEntry(.tmpfs(options: "mode=1777,size=\(spec.tmpSize)"), at: "/tmp"))
        out.append(MountEntry(.tmpfs(options: "mode=0755,uid=\(uid),gid=\(gid),size=\(spec.workspaceSize)"), at: "/workspace"))
        out.append(MountEntry(.directory(mode: 0o755), at: "/run"))
        out.append(MountEntry(.directory(mode: 0o755), at: "/home"))

        // Extra binds: parents before children.
        let binds = spec.binds.enumerated().sorted { a, b in
            let da = a.element.destination.split(separator: "/").count
            let db = b.element.destination.split(separator: "/").count
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)
        for b in binds {
            out.append(MountEntry(b.writable ? .bindWritable(source: b.source) : .bindReadOnly(source: b.source),
                                  at: b.destination, optional: b.optional))
        }

        // Identity files unless the spec brings its own.
        var files = spec.files
        let named = Set(files.map(\.path))
        if case .host = spec.systemFiles, !etcDone {
            if !named.contains("/etc/passwd") { files.append(SandboxFile(path: "/etc/passwd", contents: passwd)) }
            if !named.contains("/etc/group") { files.append(SandboxFile(path: "/etc/group", contents: group)) }
        }
        for f in files { out.append(MountEntry(.file(contents: f.contents, mode: f.mode), at: f.path)) }
        return out
    }
}
