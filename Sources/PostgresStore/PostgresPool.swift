import Dispatch
import Supervisor
import Synchronization

/// Up to `size` connections to one database, opened when first needed and lent to one
/// caller at a time. A connection that lost its server is dropped, not lent again.
package final class PostgresPool: Sendable {
    package let size: Int
    private let conninfo: String
    private let applicationName: String
    /// Run on every new connection (`SET …` of the session).
    private let setup: [String]
    /// One permit per connection that may exist: waiting on it is waiting for a free one.
    private let permits: DispatchSemaphore
    private let idle = Mutex<[Lent]>([])

    /// Moves a connection between the pool and the one caller that holds it; never used
    /// by two threads at once (the semaphore and the lock hand it over).
    private struct Lent: @unchecked Sendable { let connection: PostgresConnection }

    package init(conninfo: String, size: Int, applicationName: String = "coven-supervisor", setup: [String] = []) {
        precondition(size > 0, "a pool needs room for one connection")
        self.conninfo = conninfo
        self.setup = setup
        self.size = size
        self.applicationName = applicationName
        self.permits = DispatchSemaphore(value: size)
    }

    /// Connections open and not lent out right now.
    package var idleCount: Int { idle.withLock { $0.count } }

    /// Runs `body` with a connection of its own, waiting while all `size` are lent out.
    /// The connection goes back to the pool afterwards unless it lost its server or was
    /// left inside a transaction.
    package func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        permits.wait()
        defer { permits.signal() }
        let connection = try take()
        do {
            let value = try body(connection)
            giveBack(connection)
            return value
        } catch let error as PostgresError where error.isConnectionLost {
            throw error   // dropped: deinit closes it
        } catch {
            giveBack(connection)
            throw error
        }
    }

    /// An idle connection that still has its server, else a new one.
    private func take() throws(PostgresError) -> PostgresConnection {
        while let lent = idle.withLock({ $0.popLast() }) {
            // A server that ended an idle connection has said so on its socket.
            if lent.connection.isUsable() { return lent.connection }
        }
        let connection = try PostgresConnection(conninfo: conninfo, applicationName: applicationName)
        for statement in setup { try connection.exec(statement, step: "configure the session") }
        return connection
    }

    private func giveBack(_ connection: PostgresConnection) {
        guard connection.isAlive, connection.isIdle else { return }
        let lent = Lent(connection: connection)
        idle.withLock { $0.append(lent) }
    }
}
