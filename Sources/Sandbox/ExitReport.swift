import Foundation

/// How one sandboxed run ended. Exactly one class per run, decided in this order:
/// setupFailed, spawnFailed, timedOut, oomKilled, seccompViolation, cancelled,
/// signaled, exited.
public enum ExitClass: Sendable, Equatable, Codable {
    /// The sandbox never reached exec (e.g. stage "mount /proc", errno EPERM).
    case setupFailed(stage: String, errno: Int32)
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

    public init(exitClass: ExitClass, wallTime: Double = 0, cpuTime: Double = 0,
                peakMemoryBytes: UInt64? = nil, stdoutBytes: UInt64 = 0, stderrBytes: UInt64 = 0,
                stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
                rawWaitStatus: Int32? = nil, warnings: [String] = []) {
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
