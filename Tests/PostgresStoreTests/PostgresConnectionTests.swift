import Foundation
import PostgresStore
import StoreTesting
import Supervisor
import XCTest

/// Statements, errors and transactions on one connection.
final class PostgresConnectionTests: XCTestCase {
    private var db: PostgresConnection!

    override func setUpWithError() throws {
        db = try freshConnection().0
        try db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT); CREATE TABLE u (x INT)", step: "schema")
    }

    func testRunReturnsRowsChanged() throws {
        try db.run("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        XCTAssertEqual(try db.run("UPDATE t SET name = 'z' WHERE id >= ?", [2]), 2, "UPDATE did not report 2 rows changed")
    }

    func testRunOfStatementWithoutRowCountIsZero() throws {
        XCTAssertEqual(try db.run("CREATE TABLE w (x INT)"), 0, "a statement that changes no rows reported a count")
    }

    func testUniqueViolationIsConstraint() throws {
        try db.run("INSERT INTO t VALUES (?, ?)", [1, "a"])
        XCTAssertThrowsError(try db.run("INSERT INTO t VALUES (?, ?)", [1, "b"])) { error in
            guard let e = error as? PostgresError else { return XCTFail("not a PostgresError: \(error)") }
            XCTAssertEqual(e.sqlstate, "23505", "a duplicate key is not SQLSTATE 23505: \(e)")
            XCTAssertTrue(e.isConstraint, "a duplicate key is not a constraint failure: \(e)")
            XCTAssertFalse(e.isConnectionLost, "a duplicate key reads as a lost connection: \(e)")
        }
    }

    func testTransactionRollsBackWhenBodyThrows() throws {
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction {
            try db.run("INSERT INTO t VALUES (1, 'a')")
            throw Boom()
        }) { XCTAssertTrue($0 is Boom, "the body's error was not rethrown: \($0)") }
        XCTAssertEqual(try db.scalar("SELECT count(*) FROM t"), .int(0), "the insert of a failed transaction stayed")
        XCTAssertTrue(db.isIdle, "the connection was left inside a transaction")
    }

    func testTransactionCommitsWhenBodyReturns() throws {
        let n = try db.transaction(isolation: .serializable) { try db.run("INSERT INTO t VALUES (1, 'a'), (2, 'b')") }
        XCTAssertEqual(n, 2, "the body's value was not returned")
        XCTAssertEqual(try db.scalar("SELECT count(*) FROM t"), .int(2), "the committed rows are not there")
    }

    func testNestedTransactionRollsBackOnlyInnerWork() throws {
        struct Boom: Error {}
        try db.transaction {
            try db.run("INSERT INTO t VALUES (1, 'outer')")
            _ = try? db.transaction { try db.run("INSERT INTO t VALUES (2, 'inner')"); throw Boom() }
        }
        XCTAssertEqual(try db.query("SELECT id FROM t").map { $0["id"] }, [.int(1)], "the savepoint did not undo just the inner insert")
    }

    func testCommitAfterSwallowedFailureThrows() throws {
        XCTAssertThrowsError(try db.transaction {
            _ = try? db.run("INSERT INTO t VALUES (?, ?)", ["not a number", "a"])
            try? db.run("INSERT INTO u VALUES (1)")
        }, "COMMIT of an aborted transaction reported success")
    }

    func testConnectFailureMessageHoldsNeitherConninfoNorPassword() throws {
        let conninfo = "host=/nonexistent/coven-socket-dir port=5432 dbname=x user=someone password=SekretValue123"
        XCTAssertThrowsError(try PostgresConnection(conninfo: conninfo)) { error in
            let text = "\(error) \(String(reflecting: error))"
            XCTAssertFalse(text.contains("SekretValue123"), "the password is in the error: \(text)")
            XCTAssertFalse(text.contains(conninfo), "the connection string is in the error: \(text)")
            XCTAssertEqual((error as? PostgresError)?.step, "connect", "the failure is not a connect step: \(text)")
            XCTAssertTrue((error as? PostgresError)?.isConnectionLost ?? false, "a failed connect is not connection-class: \(text)")
        }
    }

    func testUnparsableConninfoIsNotEchoed() throws {
        let conninfo = "host=/nonexistent password SekretValue123"
        XCTAssertThrowsError(try PostgresConnection(conninfo: conninfo)) { error in
            XCTAssertFalse("\(error)".contains("SekretValue123"), "a malformed string's password is in the error: \(error)")
        }
    }

    func testSessionIsUTCAndOrdinaryRole() throws {
        XCTAssertEqual(try db.scalar("SHOW TimeZone"), .text("UTC"), "the session's TimeZone is not UTC")
        XCTAssertEqual(try db.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"), .int(0),
                       "tests connect as a superuser")
    }

    func testNotifyOutsideListenIsHarmless() throws {
        XCTAssertNoThrow(try db.notify("nobody_listens", "x"), "NOTIFY with no listener failed")
    }
}
