import XCTest
import Foundation
@testable import Adapter
import Supervisor
import PostgresStore
import StoreTesting

/// `doctor --config`'s store checks, against real files and a real PostgreSQL server:
/// each outcome, nothing created or migrated, the connection string never printed.
final class DoctorStoreTests: XCTestCase {
    var dir = ""
    let secret = "SekretValue123"

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-doctor-store-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func urlFile(_ conninfo: String, mode: Int = 0o600) throws -> String {
        let path = dir + "/pg-url"
        try? FileManager.default.removeItem(atPath: path)
        FileManager.default.createFile(atPath: path, contents: Data((conninfo + " password=\(secret)").utf8),
                                       attributes: [.posixPermissions: mode])
        return path
    }

    func postgres(_ conninfo: String, host: String = "h1", lease: Duration = .seconds(15)) throws -> DaemonConfig.Store.Postgres {
        var p = DaemonConfig.Store.Postgres(urlFile: try urlFile(conninfo), hostID: host)
        p.lease = lease
        return p
    }

    func check(_ checks: [Doctor.Check], _ name: String) -> Doctor.Check? { checks.first { $0.name == name } }

    func assertNoSecret(_ checks: [Doctor.Check], file: StaticString = #filePath, line: UInt = #line) {
        for c in checks { XCTAssertFalse(c.line.contains(secret), c.line, file: file, line: line) }
    }

    func dbName(_ conninfo: String) -> String {
        String(conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }!.dropFirst("dbname=".count))
    }

    // MARK: - SQLite

    func testSQLiteMissingFileWillBeCreatedAndIsNotCreatedByDoctor() {
        let path = dir + "/state/coven.db"
        let c = Doctor.sqliteStoreCheck(path: path)
        XCTAssertEqual(c.level, .ok)
        XCTAssertTrue(c.detail.contains("will be created (schema \(TaskStore.schemaVersion))"), c.detail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testSQLiteCurrentSchemaIsOk() throws {
        let path = dir + "/coven.db"
        _ = try TaskStore(path: path)
        let c = Doctor.sqliteStoreCheck(path: path)
        XCTAssertEqual(c.level, .ok, c.line)
        XCTAssertTrue(c.detail.hasSuffix("has schema \(TaskStore.schemaVersion)"), c.detail)
    }

    func testSQLiteFileThatIsNoDatabaseFails() throws {
        let path = dir + "/coven.db"
        try String(repeating: "not a database ", count: 100).write(toFile: path, atomically: true, encoding: .utf8)
        let c = Doctor.sqliteStoreCheck(path: path)
        XCTAssertEqual(c.level, .fail, c.line)
        XCTAssertTrue(c.detail.contains(path), c.detail)
    }

    func testSchemaVersionsOlderAreMigratedNewerFail() {
        XCTAssertEqual(Doctor.schemaCheck(found: 3, what: "x").level, .ok)
        XCTAssertTrue(Doctor.schemaCheck(found: 3, what: "x").detail.contains("serve migrates from 3 to \(TaskStore.schemaVersion)"))
        XCTAssertEqual(Doctor.schemaCheck(found: TaskStore.schemaVersion + 1, what: "x").level, .fail)
    }

    // MARK: - PostgreSQL

    func testURLFileProblemsFailNamingTheFileNeverTheContent() throws {
        var p = DaemonConfig.Store.Postgres(urlFile: dir + "/missing", hostID: "h1")
        var checks = Doctor.postgresStoreChecks(p)
        XCTAssertEqual(checks.map(\.level), [.fail])
        XCTAssertTrue(checks[0].detail.contains(dir + "/missing"), checks[0].line)

        p.urlFile = try urlFile("host=/nowhere", mode: 0o644)
        checks = Doctor.postgresStoreChecks(p)
        XCTAssertEqual(check(checks, "store url_file")?.level, .fail)
        XCTAssertTrue(checks[0].detail.contains("chmod 600"), checks[0].line)
        assertNoSecret(checks)
    }

    func testAConnectionFailureFailsWithoutTheConnectionString() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase().replacingOccurrences(of: "dbname=", with: "dbname=nosuch_")
        let checks = Doctor.postgresStoreChecks(try postgres(conninfo))
        XCTAssertEqual(check(checks, "store url_file")?.level, .ok)
        XCTAssertEqual(check(checks, "store")?.level, .fail, "\(checks.map(\.line))")
        XCTAssertTrue(check(checks, "store")?.detail.contains("does not exist") ?? false, "\(checks.map(\.line))")
        assertNoSecret(checks)
    }

    func testSchemaVersionsOfTheDatabaseAndDoctorDoesNotMigrate() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        var c = check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store")
        XCTAssertEqual(c?.level, .ok)
        XCTAssertTrue(c?.detail.contains("is empty: serve creates schema \(TaskStore.schemaVersion)") ?? false, c?.line ?? "")
        let tables = try PostgresTestServer.shared.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                                                        db: dbName(conninfo))
        XCTAssertEqual(tables.trimmingCharacters(in: .whitespacesAndNewlines), "0", "doctor created nothing")

        _ = try PostgresBackend(conninfo: conninfo, hostID: "h1", poolSize: 2)
        c = check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store")
        XCTAssertEqual(c?.level, .ok)
        XCTAssertTrue(c?.detail.hasSuffix("has schema \(TaskStore.schemaVersion)") ?? false, c?.line ?? "")

        try PostgresTestServer.shared.psql("UPDATE coven_schema SET version = 5", db: dbName(conninfo))
        c = check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store")
        XCTAssertEqual(c?.level, .ok)
        XCTAssertTrue(c?.detail.contains("serve migrates from 5 to \(TaskStore.schemaVersion)") ?? false, c?.line ?? "")

        try PostgresTestServer.shared.psql("UPDATE coven_schema SET version = 99", db: dbName(conninfo))
        c = check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store")
        XCTAssertEqual(c?.level, .fail, c?.line ?? "")
    }

    func testClockSkewIsOkThenWarnThenFail() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        let p = try postgres(conninfo, lease: .seconds(15))
        func clock(skew: TimeInterval) -> Doctor.Check? {
            check(Doctor.postgresStoreChecks(p, now: { Date().addingTimeInterval(skew) }), "store clock")
        }
        XCTAssertEqual(clock(skew: 0)?.level, .ok, clock(skew: 0)?.line ?? "")
        let warn = clock(skew: 2.5)
        XCTAssertEqual(warn?.level, .warn, warn?.line ?? "")
        XCTAssertTrue(warn?.detail.contains("ahead of the database's") ?? false, warn?.line ?? "")
        XCTAssertTrue(warn?.detail.contains("leases are judged on each host's clock") ?? false, warn?.line ?? "")
        let fail = clock(skew: -6)
        XCTAssertEqual(fail?.level, .fail, "6 s is more than a third of a 15 s lease: \(fail?.line ?? "")")
        XCTAssertTrue(fail?.detail.contains("behind") ?? false, fail?.line ?? "")
    }

    func testAHostIDWithLiveAttemptsWarns() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        let store = TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: "h1", poolSize: 2))
        XCTAssertEqual(check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store host_id")?.level, .ok)

        try store.insert([StoreMigrationTests.spec("t1", installation: 1)])
        XCTAssertNotNil(try store.claimNext(globalLimit: 1, perInstallationLimit: 1))
        let c = check(Doctor.postgresStoreChecks(try postgres(conninfo)), "store host_id")
        XCTAssertEqual(c?.level, .warn, c?.line ?? "")
        XCTAssertTrue(c?.detail.contains("1 running attempt held by h1") ?? false, c?.line ?? "")
        XCTAssertEqual(check(Doctor.postgresStoreChecks(try postgres(conninfo, host: "h2")), "store host_id")?.level, .ok)
    }

    func testConfigChecksIncludeTheStore() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        _ = try urlFile(conninfo)
        try #"{"state_dir": "state", "worker": {"runtime": ["/bin/true"]}, "store": {"kind": "postgres", "url_file": "pg-url", "host_id": "h1"}}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let (_, checks) = Doctor.configChecks(path: dir + "/config.json")
        for name in ["store url_file", "store", "store clock"] {   // host_id: no schema to look in yet
            XCTAssertEqual(check(checks, name)?.level, .ok, "\(name): \(checks.map(\.line))")
        }
        assertNoSecret(checks)
    }
}
