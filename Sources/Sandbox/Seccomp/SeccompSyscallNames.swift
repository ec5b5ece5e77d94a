import CSeccomp
import Foundation

/// Syscall numbers of this machine's architecture as names ("mount", "keyctl").
enum SeccompSyscallNames {
    static func name(_ nr: Int32) -> String {
        guard let c = seccomp_syscall_resolve_num_arch(0 /* SCMP_ARCH_NATIVE */, nr) else { return "syscall \(nr)" }
        defer { free(c) }
        return String(cString: c)
    }

    /// Counts by number, as counts by name.
    static func named(_ counts: [Int32: UInt64]) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for (nr, n) in counts { out[name(nr), default: 0] += n }
        return out
    }
}
