import Foundation
import PostgresStore
import StoreTesting
import Supervisor
import XCTest

/// The pool lends its connections again, and a killed one is replaced.
final class PostgresPoolTests: XCTestCase {
    private func pid(_ c: PostgresConnection) throws -> Int64? {
        if case .int(let p) = try c.scalar("SELECT pg_backend_pid()") { return p }
        return nil
    }

    func testPoolReusesConnection() throws {
        let pool = PostgresPool(conninfo: try PostgresTestServer.shared.createDatabase(), size: 2)
        let first = try pool.withConnection(pid)
        let second = try pool.withConnection(pid)
        XCTAssertEqual(first, second, "a second call opened a new connection instead of reusing the idle one")
        XCTAssertEqual(pool.idleCount, 1, "the pool holds \(pool.idleCount) idle connections after serial use")
    }

    func testKilledIdleConnectionIsReplaced() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        let pool = PostgresPool(conninfo: conninfo, size: 1)
        let victim = try XCTUnwrap(try pool.withConnection(pid))
        let killer = try PostgresConnection(conninfo: conninfo)
        // The second argument waits (ms) until the backend is gone.
        XCTAssertEqual(try killer.scalar("SELECT pg_terminate_backend(?::int, 5000)", [victim]), .int(1),
                       "could not terminate the pooled backend")
        let next = try pool.withConnection(pid)
        XCTAssertNotEqual(next, victim, "the pool lent out the connection whose backend was killed")
    }

    func testConnectionLostInBodyIsDropped() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        let pool = PostgresPool(conninfo: conninfo, size: 1)
        let killer = try PostgresConnection(conninfo: conninfo)
        XCTAssertThrowsError(try pool.withConnection { c in
            _ = try killer.scalar("SELECT pg_terminate_backend(?::int, 5000)", [c.backendPID])
            _ = try c.query("SELECT 1")
        }) { error in
            XCTAssertTrue((error as? PostgresError)?.isConnectionLost ?? false, "a killed backend is not a lost connection: \(error)")
        }
        XCTAssertEqual(pool.idleCount, 0, "the dead connection went back into the pool")
        XCTAssertNoThrow(try pool.withConnection { try $0.query("SELECT 1") }, "the pool did not open a new connection")
    }

    func testCallerWaitsWhileAllConnectionsAreLent() throws {
        let pool = PostgresPool(conninfo: try PostgresTestServer.shared.createDatabase(), size: 1)
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let order = Mutex2()
        let holder = Thread {
            try? pool.withConnection { _ in holding.signal(); release.wait(); order.append("holder done") }
        }
        holder.start()
        holding.wait()
        let waiter = Thread { try? pool.withConnection { _ in order.append("waiter ran") } ; holding.signal() }
        waiter.start()
        release.signal()
        holding.wait()
        XCTAssertEqual(order.items, ["holder done", "waiter ran"], "a second caller got a connection while the only one was lent")
    }
}

/// A list appended from two threads.
private final class Mutex2: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
