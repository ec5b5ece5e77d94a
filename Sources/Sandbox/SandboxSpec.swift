import Foundation

/// How the sandbox reaches the network.
public enum NetworkMode: String, Sendable, Codable, CaseIterable {
    /// Own network namespace with only loopback, up.
    case none
    /// The host's network namespace (no network isolation).
    case host
    /// Own network namespace with only loopback, plus an egress proxy: tools use
    /// `http://127.0.0.1:3128` (set in the environment), which reaches the
    /// supervisor's per-sandbox `EgressProxy` and only what `SandboxSpec.egress` allows.
    case proxy
}

/// A host path made visible inside the sandbox.
public struct Bind: Sendable, Equatable {
    public var source: String
    public var destination: String
    public var writable: Bool
    /// Skip silently when the source does not exist.
    public var optional: Bool

    public init(source: String, destination: String? = nil, writable: Bool = false, optional: Bool = false) {
        self.source = source
        self.destination = destination ?? source
        self.writable = writable
        self.optional = optional
    }

    /// Parses `SRC[:DST]` as given to `--ro-bind` / `--bind`.
    public static func parse(_ text: String, writable: Bool) throws -> Bind {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let src = parts[0]
        let dst = parts.count > 1 ? parts[1] : src
        guard src.hasPrefix("/"), dst.hasPrefix("/") else {
            throw SandboxError.invalidSpec("bind '\(text)': source and destination must be absolute paths")
        }
        return Bind(source: src, destination: dst, writable: writable)
    }
}

/// A small file the supervisor writes into the sandbox's (read-only) root.
public struct SandboxFile: Sendable, Equatable {
    public var path: String
    public var contents: String
    public var mode: UInt32
    public init(path: String, contents: String, mode: UInt32 = 0o644) {
        self.path = path; self.contents = contents; self.mode = mode
    }
}

/// Where one output stream of the command goes. Memory and disk use are always bounded.
public enum OutputSink: Sendable, Equatable {
    /// Thrown away (counted).
    case discard
    /// Kept in memory up to `limit` bytes; beyond that truncated with a marker.
    case capture(limit: Int)
    /// Copied to a descriptor of ours (e.g. our stdout) up to `limit` bytes.
    case forward(fd: Int32, limit: Int)
    /// Written to a file (created 0600) up to `limit` bytes.
    case file(path: String, limit: Int)

    public static let defaultLimit = 8 << 20
}

/// Who the command runs as on the host.
public enum SandboxIdentity: Sendable, Equatable {
    /// Root: a host uid/gid of its own from the subordinate range; otherwise the caller's.
    case automatic
    /// This host uid/gid (root only, or the caller's own ids).
    case host(uid: uid_t, gid: gid_t)
}

/// Which filesystem the sandbox's system directories come from.
public enum SystemFiles: Sendable, Equatable {
    /// Read-only binds of the host's /usr, /bin, /lib*, /sbin and a curated subset of /etc.
    case host
    /// Read-only binds of the top-level directories of this root filesystem directory.
    case rootfs(String)
}

/// Everything that describes one sandbox.
public struct SandboxSpec: Sendable {
    public var command: [String]
    /// The environment, exactly (plus PATH, HOME and LANG defaults when not named).
    public var environment: [String: String]
    public var workingDirectory: String
    public var hostname: String
    public var network: NetworkMode
    /// What a `.proxy` sandbox may reach (ignored in the other modes).
    public var egress: EgressPolicy
    /// Host directory in which a `.proxy` sandbox's socket directory is made (and
    /// removed after); nil = the temporary directory. Must be traversable by the
    /// sandbox's host uid.
    public var egressSocketParent: String?
    /// Seccomp profile: "default", a profile name, a path; nil disables seccomp (tests only).
    public var seccompProfile: String?
    /// A precompiled program wins over `seccompProfile` (the supervisor compiles once).
    public var seccompProgram: SeccompProgram?
    public var limits: ResourceLimits
    /// Size of the /workspace tmpfs: the disk quota.
    public var workspaceSize: UInt64
    /// Size of the /tmp tmpfs.
    public var tmpSize: UInt64
    public var maxOpenFiles: Int
    /// Largest file the command may write (RLIMIT_FSIZE); nil = `defaultMaxFileSize`.
    public var maxFileSize: UInt64?

    /// Twice the larger tmpfs: a file that fills /workspace or /tmp meets ENOSPC, like on a
    /// full disk, never SIGXFSZ first. (What bounds writes to writable binds is their own
    /// quota, e.g. the attempt's sized output tmpfs.)
    public var defaultMaxFileSize: UInt64 {
        let larger = max(workspaceSize, tmpSize)
        return larger > UInt64.max / 2 ? UInt64.max : larger * 2
    }
    public var systemFiles: SystemFiles
    /// Extra binds (--ro-bind / --bind), mounted after the system directories.
    public var binds: [Bind]
    /// Small files written into the root (e.g. /etc/passwd).
    public var files: [SandboxFile]
    /// Wall-clock limit; nil = none.
    public var timeout: Duration?
    /// Time between SIGTERM and SIGKILL at teardown.
    public var grace: Duration
    public var stdout: OutputSink
    public var stderr: OutputSink
    public var identity: SandboxIdentity

    public init(command: [String],
                environment: [String: String] = [:],
                workingDirectory: String = "/workspace",
                hostname: String = "coven",
                network: NetworkMode = .none,
                seccompProfile: String? = "default",
                limits: ResourceLimits = ResourceLimits(memoryBytes: 2 << 30, pids: 512, cpus: nil),
                workspaceSize: UInt64 = 1 << 30,
                tmpSize: UInt64 = 256 << 20,
                maxOpenFiles: Int = 4096,
                maxFileSize: UInt64? = nil,
                systemFiles: SystemFiles = .host,
                binds: [Bind] = [],
                files: [SandboxFile] = [],
                timeout: Duration? = nil,
                grace: Duration = .seconds(10),
                stdout: OutputSink = .capture(limit: OutputSink.defaultLimit),
                stderr: OutputSink = .capture(limit: OutputSink.defaultLimit),
                identity: SandboxIdentity = .automatic) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.hostname = hostname
        self.network = network
        self.egress = EgressPolicy()
        self.egressSocketParent = nil
        self.seccompProfile = seccompProfile
        self.seccompProgram = nil
        self.limits = limits
        self.workspaceSize = workspaceSize
        self.tmpSize = tmpSize
        self.maxOpenFiles = maxOpenFiles
        self.maxFileSize = maxFileSize
        self.systemFiles = systemFiles
        self.binds = binds
        self.files = files
        self.timeout = timeout
        self.grace = grace
        self.stdout = stdout
        self.stderr = stderr
        self.identity = identity
    }

    /// The uid and gid the command has inside the sandbox.
    public static let innerUID: uid_t = 1000
    public static let innerGID: gid_t = 1000

    /// Where a `.proxy` sandbox finds its egress relay, and the proxy's socket inside.
    public static let egressPort = 3128
    public static let egressProxyURL = "http://127.0.0.1:\(egressPort)"
    public static let egressSocketDirectory = "/run/coven-egress"
    public static let egressSocketInside = egressSocketDirectory + "/proxy.sock"

    /// What a `.proxy` sandbox's environment says about the proxy (both cases: curl
    /// only reads lower-case http_proxy, other tools only upper case).
    public static let proxyEnvironment: [String: String] = {
        var env: [String: String] = [:]
        for k in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
            env[k] = egressProxyURL
            env[k.lowercased()] = egressProxyURL
        }
        env["NO_PROXY"] = "localhost,127.0.0.1"
        env["no_proxy"] = "localhost,127.0.0.1"
        return env
    }()

    /// The environment the command actually gets.
    public var effectiveEnvironment: [String: String] {
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"]
        if network == .proxy { env.merge(Self.proxyEnvironment) { a, _ in a } }
        for (k, v) in environment { env[k] = v }
        return env
    }
}

/// Why a sandbox could not be launched (before anything ran).
public struct SandboxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The step that failed (`.seccompProfile`, `.cgroup`, `.clone`…).
    public let stage: SetupStage
    public let errno: Int32
    /// What failed, in words, e.g. "cgroup: write +memory to …: EBUSY".
    public let message: String
    /// When the fix is on the host (a cgroup layout, a sysctl): what to do, in words.
    public let hint: String?

    public init(stage: SetupStage, errno: Int32 = 0, message: String, hint: String? = nil) {
        self.stage = stage; self.errno = errno; self.message = message; self.hint = hint
    }
    public static func invalidSpec(_ message: String) -> SandboxError {
        SandboxError(stage: .spec, errno: EINVAL, message: message)
    }
    public var description: String { message }
}
