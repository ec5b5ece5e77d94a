import Foundation

/// The exit report as flat JSON: {"class": "exited", "exit_code": 0, "wall_time_s": ...}.
public enum ExitReportJSON {
    public static func object(_ r: ExitReport) -> [String: Any] {
        var o: [String: Any] = [
            "class": r.exitClass.name,
            "wall_time_s": r.wallTime,
            "cpu_time_s": r.cpuTime,
            "stdout_bytes": r.stdoutBytes,
            "stderr_bytes": r.stderrBytes,
            "stdout_truncated": r.stdoutTruncated,
            "stderr_truncated": r.stderrTruncated,
            "shell_status": r.shellStatus,
        ]
        if let p = r.peakMemoryBytes { o["peak_memory_bytes"] = p }
        if let w = r.rawWaitStatus { o["wait_status"] = w }
        if !r.warnings.isEmpty { o["warnings"] = r.warnings }
        if !r.deniedSyscalls.isEmpty { o["denied_syscalls"] = r.deniedSyscalls }
        if !r.unenforcedLimits.isEmpty {
            o["unenforced_limits"] = r.unenforcedLimits.map { ["limit": $0.limit.rawValue, "reason": $0.reason] }
        }
        switch r.exitClass {
        case .setupFailed(let stage, let e, let detail):
            o["stage"] = stage.name; o["errno"] = e; o["error"] = errnoName(e)
            if !detail.isEmpty { o["detail"] = detail }
        case .spawnFailed(let e): o["errno"] = e; o["error"] = errnoName(e)
        case .signaled(let s, let core): o["signal"] = s; o["core_dumped"] = core
        case .exited(let c): o["exit_code"] = c
        default: break
        }
        return o
    }

    public static func encode(_ r: ExitReport) throws -> Data {
        try JSONSerialization.data(withJSONObject: object(r), options: [.sortedKeys, .prettyPrinted])
    }

    /// "EPERM", "ENOENT"... for the common errnos, else the strerror text.
    public static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [EPERM: "EPERM", ENOENT: "ENOENT", EACCES: "EACCES", EINVAL: "EINVAL",
                                      ENOSPC: "ENOSPC", EEXIST: "EEXIST", ENOTDIR: "ENOTDIR", ENOMEM: "ENOMEM",
                                      EAGAIN: "EAGAIN", ENOEXEC: "ENOEXEC", ENAMETOOLONG: "ENAMETOOLONG",
                                      EBUSY: "EBUSY", EROFS: "EROFS", ENOSYS: "ENOSYS", EOVERFLOW: "EOVERFLOW"]
        return names[e] ?? String(cString: strerror(e))
    }
}
