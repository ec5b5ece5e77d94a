import Foundation

/// The host directory behind `/run/coven` for one attempt:
///
///     session-brief.json   the tokenless brief (0644)
///     attempt.sh           pre-clone, then exec the runtime (0755)
///     askpass              placeholder; the shared GIT_ASKPASS helper is bound over it
///     askpass.sock         the supervisor's answer socket (peer uid checked)
///     out/                 an empty mount point: the sandbox's writable /run/coven/out
///                          is bound there from <parent>/.out/<name> (result.json, clone.status)
///
/// Mounted read-only except `out/`. The directory is 0711: the sandbox's host uid
/// can traverse it, nobody can list it, and it is removed after the attempt. As root
/// the writable directory is a tmpfs of its own, sized `outSize`: the per-file limit alone
/// let one attempt write gigabytes to the disk that also holds the store. It lives outside
/// the attempt directory because a sandbox (in its user namespace) cannot bind a directory
/// holding a mount without binding that mount too (EINVAL). Rootless there is no mount: the
/// sandbox's file-size limit is all that bounds it.
///
/// The sandbox's stdout and stderr go to `<parent>/.output/<name>.stdout|.stderr`
/// (`outputFile`), outside the bound directory (0700: the daemon's only), so that the
/// output can be followed while the attempt runs.
struct AttemptDirectory {
    let path: String
    var brief: String { path + "/session-brief.json" }
    var script: String { path + "/attempt.sh" }
    var askpass: String { path + "/askpass" }
    var socket: String { path + "/askpass.sock" }
    /// The mount point of `out` inside the attempt directory.
    var outMountPoint: String { path + "/out" }
    /// The writable directory the sandbox sees as /run/coven/out.
    var out: String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/" + Self.outParent + "/" + url.lastPathComponent
    }

    /// Where the attempts' `out` directories live, under the attempts directory.
    static let outParent = ".out"
    /// Where the attempts' output files live, under the attempts directory: the daemon's
    /// only (0700), outside what any sandbox sees.
    static let outputParent = ".output"

    /// The capped file the sandbox's stdout or stderr is written to (and read from by
    /// followers while it runs).
    func outputFile(_ stream: AttemptStream) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/" + Self.outputParent + "/" + url.lastPathComponent + "." + stream.rawValue
    }

    static let insideRoot = "/run/coven"

    static func create(in parent: String, taskID: String, attempt: Int, owner: (uid: uid_t, gid: gid_t)?,
                       brief: Data, outSize: UInt64 = AttemptConfig.defaultOutSize) throws -> AttemptDirectory {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o711)
        let safeID = taskID.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        let name = "\(safeID)-\(attempt)-\(UInt64.random(in: 0...UInt64.max).hexString)"
        let dir = AttemptDirectory(path: parent + "/" + name)
        guard mkdir(dir.path, 0o711) == 0 else { throw AttemptError.setup("create \(dir.path): \(String(cString: strerror(errno)))") }
        chmod(dir.path, 0o711)
        try write(brief, to: dir.brief, mode: 0o644)
        try write(Data(attemptScript.utf8), to: dir.script, mode: 0o755)
        // A placeholder: the helper itself is bind-mounted over it (one shared copy, see
        // AttemptDirectory.installAskpass), so no attempt writes megabytes of binary.
        try write(Data(), to: dir.askpass, mode: 0o755)
        guard mkdir(dir.outMountPoint, 0o700) == 0 else {
            throw AttemptError.setup("create \(dir.outMountPoint): \(String(cString: strerror(errno)))")
        }
        let outs = parent + "/" + outParent
        if mkdir(outs, 0o711) != 0 && errno != EEXIST { throw AttemptError.setup("create \(outs): \(String(cString: strerror(errno)))") }
        chmod(outs, 0o711)
        guard mkdir(dir.out, 0o700) == 0 else { throw AttemptError.setup("create \(dir.out): \(String(cString: strerror(errno)))") }
        let outputs = parent + "/" + outputParent
        if mkdir(outputs, 0o700) != 0 && errno != EEXIST { throw AttemptError.setup("create \(outputs): \(String(cString: strerror(errno)))") }
        chmod(outputs, 0o700)
        if geteuid() == 0 {
            let o = owner ?? (getuid(), getgid())
            let options = "size=\(outSize),mode=0700,uid=\(o.uid),gid=\(o.gid),nr_inodes=4096"
            if mount("tmpfs", dir.out, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), options) != 0 {
                let e = errno
                dir.remove()
                throw AttemptError.setup("mount a \(outSize)-byte tmpfs on \(dir.out): \(String(cString: strerror(e)))")
            }
        } else if let owner, chown(dir.out, owner.uid, owner.gid) != 0 {
            throw AttemptError.setup("chown \(dir.out): \(String(cString: strerror(errno)))")
        }
        return dir
    }

    /// Removes attempt directories a killed or crashed supervisor left in `parent`
    /// (their `out/` tmpfs included). Only for a supervisor starting up: no attempt of its
    /// own runs yet, and the state directory is its alone. Returns how many went.
    static func removeStale(in parent: String) -> Int {
        var removed = 0
        let outs = parent + "/" + outParent
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [])
            .union((try? FileManager.default.contentsOfDirectory(atPath: outs)) ?? [])
        for name in names where !name.hasPrefix(".") {
            AttemptDirectory(path: parent + "/" + name).remove()
            removed += 1
        }
        let outputs = parent + "/" + outputParent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: outputs)) ?? [] {
            try? FileManager.default.removeItem(atPath: outputs + "/" + name)
        }
        return removed
    }

    /// Copies the askpass helper once to `<parent>/.bin/coven-askpass` (0755 under 0711
    /// directories, so every sandbox uid can reach it); attempts bind it read-only.
    static func installAskpass(from binary: String, in parent: String) throws -> String {
        let bin = parent + "/.bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        chmod(parent, 0o711)
        chmod(bin, 0o711)
        let target = bin + "/coven-askpass"
        guard let helper = FileManager.default.contents(atPath: binary) else {
            throw AttemptError.setup("askpass helper not found at \(binary)")
        }
        if FileManager.default.contents(atPath: target) != helper {
            let tmp = target + ".tmp-\(getpid())"
            try write(helper, to: tmp, mode: 0o755)
            guard rename(tmp, target) == 0 else { throw AttemptError.setup("install \(target): \(String(cString: strerror(errno)))") }
        }
        return target
    }

    private static func write(_ data: Data, to path: String, mode: mode_t) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw AttemptError.setup("write \(path) failed")
        }
        chmod(path, mode)
    }

    /// Reads a small file the sandbox wrote into `out/` without following links.
    func readOutFile(_ name: String, max: Int = 4096) -> String? {
        let dfd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dfd >= 0 else { return nil }
        defer { close(dfd) }
        let fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var buf = [UInt8](repeating: 0, count: max)
        let n = read(fd, &buf, max)
        guard n > 0 else { return "" }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    /// What the sandbox wrote to `stream`: at most `max` bytes (the collector's cap and its
    /// truncation marker fit).
    func readOutput(_ stream: AttemptStream, max: Int) -> Data {
        let fd = open(outputFile(stream), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return Data() }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count < max {
            let n = read(fd, &buffer, min(buffer.count, max - data.count))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    func remove() {
        // Output files first: a follower holding one keeps reading it, nobody else can.
        for stream in AttemptStream.allCases { unlink(outputFile(stream)) }
        // Detached, not just unmounted: a process still holding a file there (none should)
        // must not keep the directory from going.
        if geteuid() == 0 { _ = umount2(out, Int32(MNT_DETACH)) }
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Pre-clone inside the sandbox, then the runtime per the headless contract.
    /// The clone's outcome goes to out/clone.status so the supervisor can tell a
    /// clone failure (infra, retry-safe) from the runtime's own exit.
    static let attemptScript = """
    #!/bin/sh
    # Written by coven-supervisor for one attempt: pre-clone, then the runtime.
    set -u
    out=/run/coven/out
    git clone --quiet --no-tags --branch "$COVEN_CHECKOUT_REF" -- "$COVEN_CLONE_URL" /workspace
    rc=$?
    # A fork's pull request: its head, fetched from this repository, on a new branch.
    # A review: the head, detached at the commit reviewed (the base stays as cloned).
    if [ "$rc" -eq 0 ] && [ -n "${COVEN_CHECKOUT_FETCH:-}" ]; then
        if [ -n "${COVEN_CHECKOUT_BRANCH:-}" ]; then
            git -C /workspace fetch --quiet --no-tags origin "$COVEN_CHECKOUT_FETCH" &&
                git -C /workspace checkout --quiet -b "$COVEN_CHECKOUT_BRANCH" FETCH_HEAD
        else
            git -C /workspace fetch --quiet --no-tags origin "$COVEN_CHECKOUT_FETCH" &&
                git -C /workspace checkout --quiet --detach "${COVEN_CHECKOUT_SHA:-FETCH_HEAD}"
        fi
        rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "failed $rc" > "$out/clone.status"
        exit 97
    fi
    echo ok > "$out/clone.status"
    cd /workspace || exit 97
    # A runtime that is missing or not executable fails the task at once: say which.
    case "$1" in
    */*) if [ ! -e "$1" ]; then echo not-found > "$out/runtime.status"; exit 127; fi
         if [ -d "$1" ] || [ ! -x "$1" ]; then echo not-executable > "$out/runtime.status"; exit 126; fi ;;
    *)   if ! command -v "$1" >/dev/null 2>&1; then echo not-found > "$out/runtime.status"; exit 127; fi ;;
    esac
    exec "$@" --headless --context /run/coven/session-brief.json --output /run/coven/out/result.json

    """
}

public enum AttemptError: Error, CustomStringConvertible, Sendable {
    case setup(String)
    public var description: String {
        switch self { case .setup(let s): return "attempt set-up: \(s)" }
    }
}

extension UInt64 {
    var hexString: String { String(self, radix: 16) }
}
