import PostgresStore
import StoreTesting
import XCTest

/// A connection to a fresh database of the shared test server.
func freshConnection(file: StaticString = #filePath, line: UInt = #line) throws -> (PostgresConnection, String) {
    let conninfo = try PostgresTestServer.shared.createDatabase()
    return (try PostgresConnection(conninfo: conninfo), conninfo)
}
