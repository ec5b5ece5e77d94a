import Foundation

/// How one sandboxed run ended. Exactly one class per run, decided in this order:
/// setupFailed, spawnFailed, timedOut, oomKilled, seccompViolation, cancelled,
/// signaled, exited.
public enum ExitClass: Sendable, Equatable, Codable {
    /// The sandbox never reached exec: the stage (e.g. `.proc`, `.cgroup`), its errno, and
    /// what failed in words ("bind /srv/x: No such file or directory", "cgroup: write …").
    case setupFailed(stage: SetupStage, errno: Int32, detail: String)
    /// execve of the command failed (ENOENT, EACCES, ...).
    case spawnFailed(errno: Int32)
    /// The wall-clock deadline fired (recorded before any signal was sent).
    case timedOut
    /// The cgroup's OOM-kill counter went up during the run.
    case oomKilled
    /// The command was killed by SIGSYS (a seccomp kill action).
    case seccompViolation
    /// Torn down on request (cancel).
    case cancelled
    /// Killed by a signal.
    case signaled(signal: Int32, core: Bool)
    /// Exited normally with a status code.
    case exited(code: Int32)

    /// A short stable name: "setup_failed", "spawn_failed", "timed_out", "oom_killed",
    /// "seccomp_violation", "cancelled", "signaled", "exited".
    public var name: String {
        switch self {
        case .setupFailed: return "setup_failed"
        case .spawnFailed: return "spawn_failed"
        case .timedOut: return "timed_out"
        case .oomKilled: return "oom_killed"
        case .seccompViolation: return "seccomp_violation"
        case .cancelled: return "cancelled"
        case .signaled: return "signaled"
        case .exited: return "exited"
        }
    }
}

extension ExitClass {
    // Coded by hand in the shape Swift synthesizes ({"exited": {"code": 0}}), so that reports
    // stored before `setupFailed` had a typed stage and a detail still decode.
    private enum Case: String, CodingKey {
        case setupFailed, spawnFailed, timedOut, oomKilled, seccompViolation, cancelled, signaled, exited
    }
    private enum Field: String, CodingKey { case stage, errno, detail, signal, core, code }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Case.self)
        guard let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no exit class"))
        }
        switch key {
        case .setupFailed:
            let f = try c.nestedContainer(keyedBy: Field.self, forKey: key)
            let text = try f.decode(String.self, forKey: .stage)
            let stage = SetupStage(name: text) ?? .launcher
            let detail = try f.decodeIfPresent(String.self, forKey: .detail)
                ?? (text.hasPrefix(stage.name) ? String(text.dropFirst(stage.name.count)).trimmingCharacters(in: .whitespaces) : text)
            self = .setupFailed(stage: stage, errno: try f.decode(Int32.self, forKey: .errno), detail: detail)
        case .spawnFailed:
            self = .spawnFailed(errno: try c.nestedContainer(keyedBy: Field.self, forKey: key).decode(Int32.self, forKey: .errno))
        case .signaled:
            let f = try c.nestedContainer(keyedBy: Field.self, forKey: key)
            self = .signaled(signal: try f.decode(Int32.self, forKey: .signal), core: try f.decode(Bool.self, forKey: .core))
        case .exited:
            self = .exited(code: try c.nestedContainer(keyedBy: Field.self, forKey: key).decode(Int32.self, forKey: .code))
        case .timedOut: self = .timedOut
        case .oomKilled: self = .oomKilled
        case .seccompViolation: self = .seccompViolation
        case .cancelled: self = .cancelled
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Case.self)
        switch self {
        case .setupFailed(let stage, let e, let detail):
            var f = c.nestedContainer(keyedBy: Field.self, forKey: .setupFailed)
            try f.encode(stage, forKey: .stage); try f.encode(e, forKey: .errno); try f.encode(detail, forKey: .detail)
        case .spawnFailed(let e):
            var f = c.nestedContainer(keyedBy: Field.self, forKey: .spawnFailed)
            try f.encode(e, forKey: .errno)
        case .signaled(let sig, let core):
            var f = c.nestedContainer(keyedBy: Field.self, forKey: .signaled)
            try f.encode(sig, forKey: .signal); try f.encode(core, forKey: .core)
        case .exited(let code):
            var f = c.nestedContainer(keyedBy: Field.self, forKey: .exited)
            try f.encode(code, forKey: .code)
        case .timedOut: _ = c.nestedContainer(keyedBy: Field.self, forKey: .timedOut)
        case .oomKilled: _ = c.nestedContainer(keyedBy: Field.self, forKey: .oomKilled)
        case .seccompViolation: _ = c.nestedContainer(keyedBy: Field.self, forKey: .seccompViolation)
        case .cancelled: _ = c.nestedContainer(keyedBy: Field.self, forKey: .cancelled)
        }
    }
}

/// The exit report of one sandboxed run: the class plus what was measured.
public struct ExitReport: Sendable, Equatable, Codable {
    public var exitClass: ExitClass
    /// Wall time from launch to the end of teardown, in seconds.
    public var wallTime: Double
    /// User+system CPU time of everything in the sandbox, in seconds.
    public var cpuTime: Double
    /// Peak memory of the sandbox's cgroup in bytes (nil when not measurable).
    public var peakMemoryBytes: UInt64?
    /// Bytes the command wrote to stdout / stderr (including what was dropped past the cap).
    public var stdoutBytes: UInt64
    public var stderrBytes: UInt64
    /// True when output went past the cap and was truncated.
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// The raw wait status of the command when it ran (nil if it never ran or was lost
    /// in teardown).
    public var rawWaitStatus: Int32?
    /// Seccomp warnings etc. that the launch produced (never fatal).
    public var warnings: [String]
    /// Limits the sandbox asked for and ran without (rootless without a delegated cgroup),
    /// each with the reason. Always empty as root: there an unenforceable limit fails the launch.
    public var unenforcedLimits: [UnenforcedLimit]
    /// Syscalls the seccomp profile refused with EPERM, by name, and how often: an agent
    /// whose build fails with EPERM can tell seccomp was the reason.
    public var deniedSyscalls: [String: UInt64]

    public init(exitClass: ExitClass, wallTime: Double = 0, cpuTime: Double = 0,
                peakMemoryBytes: UInt64? = nil, stdoutBytes: UInt64 = 0, stderrBytes: UInt64 = 0,
                stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
                rawWaitStatus: Int32? = nil, warnings: [String] = [], unenforcedLimits: [UnenforcedLimit] = [],
                deniedSyscalls: [String: UInt64] = [:]) {
        self.exitClass = exitClass
        self.wallTime = wallTime
        self.cpuTime = cpuTime
        self.peakMemoryBytes = peakMemoryBytes
        self.stdoutBytes = stdoutBytes
        self.stderrBytes = stderrBytes
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.rawWaitStatus = rawWaitStatus
        self.warnings = warnings
        self.unenforcedLimits = unenforcedLimits
        self.deniedSyscalls = deniedSyscalls
    }

    private enum CodingKeys: String, CodingKey {
        case exitClass, wallTime, cpuTime, peakMemoryBytes, stdoutBytes, stderrBytes, stdoutTruncated, stderrTruncated
        case rawWaitStatus, warnings, unenforcedLimits, deniedSyscalls
    }

    // Reports stored before `unenforcedLimits` existed still decode.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(exitClass: try c.decode(ExitClass.self, forKey: .exitClass),
                  wallTime: try c.decode(Double.self, forKey: .wallTime),
                  cpuTime: try c.decode(Double.self, forKey: .cpuTime),
                  peakMemoryBytes: try c.decodeIfPresent(UInt64.self, forKey: .peakMemoryBytes),
                  stdoutBytes: try c.decode(UInt64.self, forKey: .stdoutBytes),
                  stderrBytes: try c.decode(UInt64.self, forKey: .stderrBytes),
                  stdoutTruncated: try c.decode(Bool.self, forKey: .stdoutTruncated),
                  stderrTruncated: try c.decode(Bool.self, forKey: .stderrTruncated),
                  rawWaitStatus: try c.decodeIfPresent(Int32.self, forKey: .rawWaitStatus),
                  warnings: try c.decode([String].self, forKey: .warnings),
                  unenforcedLimits: try c.decodeIfPresent([UnenforcedLimit].self, forKey: .unenforcedLimits) ?? [],
                  deniedSyscalls: try c.decodeIfPresent([String: UInt64].self, forKey: .deniedSyscalls) ?? [:])
    }

    /// Exit status of `sandbox exec`, following `timeout`, `env` and `chroot`:
    /// the command's code; 128+N for signal N; 124 timeout; 125 set-up failure;
    /// 126 cannot execute; 127 not found.
    public var shellStatus: Int32 {
        switch exitClass {
        case .exited(let code): return code
        case .signaled(let sig, _): return 128 + sig
        case .seccompViolation: return 128 + SIGSYS
        case .oomKilled: return 128 + SIGKILL
        case .cancelled: return 128 + SIGTERM
        case .timedOut: return 124
        case .setupFailed: return 125
        case .spawnFailed(let e): return e == ENOENT ? 127 : 126
        }
    }
}
