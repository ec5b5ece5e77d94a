import Foundation
import PostgresStore
import StoreTesting
import Supervisor
import XCTest

/// The test server itself: starts quickly enough, and a server of a test's own can be
/// stopped under its connections.
final class PostgresTestServerTests: XCTestCase {
    func testOwnServerStartsAndStopsAndCleansUp() throws {
        let server = PostgresTestServer()
        try server.start()
        defer { server.stop() }
        let took = try XCTUnwrap(server.lastStartDuration)
        print("PostgresTestServer start (initdb + postgres + role): \(took)")
        let socketDir = try XCTUnwrap(server.socketDirectory)
        let conninfo = try server.createDatabase("own_db")
        let db = try PostgresConnection(conninfo: conninfo)
        XCTAssertEqual(try db.scalar("SELECT current_database()"), .text("own_db"), "connected to the wrong database")
        server.stop(mode: .immediate)
        XCTAssertThrowsError(try db.query("SELECT 1"), "a query succeeded on a stopped server") { error in
            XCTAssertTrue((error as? PostgresError)?.isConnectionLost ?? false, "a stopped server is not a lost connection: \(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketDir), "stop left the server's temp dir behind")
    }

    func testPsqlRunsAsSuperuser() throws {
        XCTAssertEqual(try PostgresTestServer.shared.psql("SELECT current_user"), PostgresTestServer.superuser,
                       "psql did not run as the cluster's superuser")
    }
}
