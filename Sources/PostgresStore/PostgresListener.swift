import Foundation
import Supervisor

/// One host's ear: a connection of its own that `LISTEN`s on the store's channels and
/// hands each notification to `handler`, on its own thread.
///
/// A notification sent while the connection was down is lost, so after every (re)connect
/// the handler hears each channel once with an empty payload: the dispatcher and the
/// outbox look again, and the supervisor's slow poll and heartbeat cover the rest
/// (a cancel is also found by the heartbeat).
final class PostgresListener: StoreSubscription, @unchecked Sendable {  // `stopped` guarded by `lock`
    private let lock = NSLock()
    private var stopped = false

    init(conninfo: String, channels: [String], handler: @escaping @Sendable (String, String) -> Void) {
        let t = Thread { [self] in loop(conninfo, channels, handler) }
        t.name = "store-listener"
        t.start()
    }

    func cancel() {
        lock.lock(); stopped = true; lock.unlock()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func loop(_ conninfo: String, _ channels: [String], _ handler: @Sendable (String, String) -> Void) {
        var conn: PostgresConnection?
        var backoff = 0.1
        while !isStopped {
            do {
                if conn == nil {
                    let c = try PostgresConnection(conninfo: conninfo, applicationName: "coven-supervisor listener")
                    try c.listen(channels)
                    conn = c
                    backoff = 0.1
                    for channel in channels where channel != StoreChannel.cancel { handler(channel, "") }
                }
                // Short waits: `cancel` is seen within one.
                for n in try conn!.waitForNotifications(timeout: .milliseconds(250)) { handler(n.channel, n.payload) }
            } catch {
                conn = nil
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(5, backoff * 2)
            }
        }
    }
}
