import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Places where a fault-injection test can make the daemon die, exactly there, the way
/// `kill -9` would: with `COVEN_TEST_CRASH_AT=<raw value>` in the daemon's environment it
/// SIGKILLs itself on reaching the point, and a test restarts it on the same state to see
/// what survived. Honoured by debug builds only (`make test` builds debug): in a release
/// build `reached()` is empty, so no environment can make a production daemon kill itself.
enum CrashPoint: String {
    /// Right after `TaskStore.recordAttempt` committed, before anything else (log lines,
    /// publication, the next claim).
    case attemptRecorded = "attempt_recorded"

    /// The environment variable naming the point.
    static let variable = "COVEN_TEST_CRASH_AT"

    @inline(__always)
    func reached() {
        #if DEBUG
        if ProcessInfo.processInfo.environment[Self.variable] == rawValue { kill(getpid(), SIGKILL) }
        #endif
    }
}
