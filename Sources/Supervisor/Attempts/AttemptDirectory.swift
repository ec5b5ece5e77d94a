import Foundation

/// The host directory behind `/run/coven` for one attempt:
///
///     session-brief.json   the tokenless brief (0644)
///     attempt.sh           pre-clone, then exec the runtime (0755)
///     askpass              placeholder; the shared GIT_ASKPASS helper is bound over it
///     askpass.sock         the supervisor's answer socket (peer uid checked)
///     out/                 writable by the sandbox: result.json, clone.status
///
/// Mounted read-only except `out/`. The directory is 0711: the sandbox's host uid
/// can traverse it, nobody can list it, and it is removed after the attempt.
struct AttemptDirectory {
    let path: String
    var brief: String { path + "/session-brief.json" }
    var script: String { path + "/attempt.sh" }
    var askpass: String { path + "/askpass" }
    var socket: String { path + "/askpass.sock" }
    var out: String { path + "/out" }

    static let insideRoot = "/run/coven"

    static func create(in parent: String, taskID: String, attempt: Int, owner: (uid: uid_t, gid: gid_t)?,
                       brief: Data) throws -> AttemptDirectory {
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
        guard mkdir(dir.out, 0o700) == 0 else { throw AttemptError.setup("create \(dir.out): \(String(cString: strerror(errno)))") }
        if let owner, chown(dir.out, owner.uid, owner.gid) != 0 {
            throw AttemptError.setup("chown \(dir.out): \(String(cString: strerror(errno)))")
        }
        return dir
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

    func remove() {
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
