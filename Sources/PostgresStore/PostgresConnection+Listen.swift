import CLibPQ
import Foundation
import Supervisor

/// LISTEN and the notifications it brings: how one host hears that another changed
/// the shared database, without polling the tables.
extension PostgresConnection {
    /// Subscribes to `channels` (exact names: each is sent as a quoted identifier).
    package func listen(_ channels: [String]) throws(PostgresError) {
        guard !channels.isEmpty else { return }
        let sql = channels.map { "LISTEN \"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            .joined(separator: "; ")
        try exec(sql, step: "LISTEN")
    }

    /// The notifications that arrive within `timeout`: those libpq holds already, else
    /// the first batch the socket brings. [] when the time runs out. Sleeps in poll(2)
    /// on the connection's socket meanwhile, never spins.
    package func waitForNotifications(timeout: Duration) throws(PostgresError) -> [(channel: String, payload: String)] {
        // Queries since the last call may have buffered some already.
        var batch = drainNotifications()
        if !batch.isEmpty { return batch }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let fd = PQsocket(handle)
            guard fd >= 0 else { throw connectionError("LISTEN") }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return [] }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&pfd, 1, Self.milliseconds(remaining))
            if rc < 0 {
                if errno == EINTR { continue }
                throw PostgresError(sqlstate: "", step: "LISTEN", message: "poll: \(String(cString: strerror(errno)))")
            }
            if rc == 0 { continue }   // timed out; the loop's deadline check returns []
            // Readable (or hung up): consuming input is what tells a dead server apart.
            guard PQconsumeInput(handle) == 1 else { throw connectionError("LISTEN") }
            batch = drainNotifications()
            if !batch.isEmpty { return batch }
        }
    }

    private func drainNotifications() -> [(channel: String, payload: String)] {
        var out: [(channel: String, payload: String)] = []
        // Without a read first, PQnotifies only sees what earlier calls pulled in.
        _ = PQconsumeInput(handle)
        while let n = PQnotifies(handle) {
            out.append((String(cString: n.pointee.relname), String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }

    /// poll's timeout, rounded up so a sub-millisecond remainder waits instead of spinning.
    private static func milliseconds(_ d: Duration) -> Int32 {
        let (seconds, attoseconds) = d.components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(ms, 1))
    }
}

extension PostgresConnection {
    /// Whether an idle connection can be lent out: reads what the server sent meanwhile
    /// (without waiting), which is how a server that ended the session is noticed.
    package func isUsable() -> Bool {
        guard isAlive, isIdle else { return false }
        let fd = PQsocket(handle)
        guard fd >= 0 else { return false }
        // A server ending the session sends its FATAL message, then closes: the first
        // read takes the message, a later one sees the end. Bounded: a listener's
        // stream of notifications must not keep us here.
        for _ in 0..<8 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) > 0 else { break }
            guard PQconsumeInput(handle) == 1, isAlive else { return false }
        }
        return isAlive
    }
}
