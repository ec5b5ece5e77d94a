import XCTest
import Foundation
@testable import Adapter
import Supervisor
import StoreTesting

/// `store` in the configuration, and opening the store it names.
final class ConfigStoreTests: XCTestCase {
    private func parse(_ store: String?) throws -> DaemonConfig {
        try ConfigLoader.parse(Data("""
        {"state_dir": "/tmp/s", "worker": {"runtime": ["/bin/true"]}\(store.map { #", "store": \#($0)"# } ?? "")}
        """.utf8), baseDirectory: "/etc/coven")
    }

    func testWithoutTheKeyTheStoreIsSQLite() throws {
        XCTAssertEqual(try parse(nil).store, .sqlite)
    }

    func testAPostgresStoreIsRead() throws {
        let c = try parse(#"{"kind": "postgres", "url_file": "db-url", "host_id": "runner-1", "lease": "20s", "fleet_max_concurrent": 9, "pool_size": 4}"#)
        var expected = DaemonConfig.Store.Postgres(urlFile: "/etc/coven/db-url", hostID: "runner-1")
        expected.lease = .seconds(20); expected.fleetConcurrency = 9; expected.poolSize = 4
        XCTAssertEqual(c.store, .postgres(expected))
    }

    func testAPostgresHostIDDefaultsToTheHostName() throws {
        guard case .postgres(let p) = try parse(#"{"kind": "postgres", "url_file": "/etc/db-url"}"#).store else {
            return XCTFail("not a postgres store")
        }
        XCTAssertFalse(p.hostID.isEmpty, "no host id")
    }

    func testAFleetPollsSlowlyAndIsWokenByNotifications() throws {
        XCTAssertEqual(try parse(#"{"kind": "postgres", "url_file": "/etc/db-url"}"#).supervisorSettings.pollInterval, .seconds(5))
        XCTAssertEqual(try parse(nil).supervisorSettings.pollInterval, .milliseconds(250))
    }

    func testRefusals() {
        let cases: [(json: String, message: String)] = [
            (#"{"kind": "mysql"}"#, #"store.kind: "mysql" must be "sqlite" or "postgres""#),
            (#"{"kind": "postgres"}"#, "store.url_file: is required"),
            (#"{"kind": "sqlite", "url_file": "/x"}"#, "store.url_file: applies to kind \"postgres\" only"),
            (#"{"kind": "postgres", "url_file": "/x", "lease": "1s"}"#, "store.lease: must be between 3s and 10m"),
            (#"{"kind": "postgres", "url_file": "/x", "host_id": "a b"}"#, "store.host_id:"),
            (#"{"kind": "postgres", "url": "postgres://u:p@h/db"}"#, "store.url"),
        ]
        for c in cases {
            XCTAssertThrowsError(try parse(c.json), c.json) { error in
                XCTAssertTrue("\(error)".contains(c.message), "\(error) does not say '\(c.message)'")
            }
        }
    }

    func testAConnectionThatFailsNeverShowsItsConnectionString() throws {
        let dir = NSTemporaryDirectory() + "coven-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/db-url"
        try "host=\(dir)/no-such-socket-dir dbname=coven user=coven password=SekretValue123\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        var config = DaemonConfig(stateDirectory: dir + "/state", worker: DaemonConfig.Worker(runtime: ["/bin/true"]))
        config.store = .postgres(.init(urlFile: file, hostID: "h1"))
        XCTAssertThrowsError(try Daemon.openStore(config)) { error in
            XCTAssertFalse("\(error)".contains("SekretValue123"), "the password leaked: \(error)")
            XCTAssertFalse("\(error)".contains("no-such-socket-dir dbname"), "the connection string leaked: \(error)")
        }
    }

    func testAReadableByOthersConnectionFileIsRefusedNamingTheFileOnly() throws {
        let dir = NSTemporaryDirectory() + "coven-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/db-url"
        try "password=SekretValue123".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        var config = DaemonConfig(stateDirectory: dir + "/state", worker: DaemonConfig.Worker(runtime: ["/bin/true"]))
        config.store = .postgres(.init(urlFile: file, hostID: "h1"))
        XCTAssertThrowsError(try Daemon.openStore(config)) { error in
            XCTAssertTrue("\(error)".contains(file), "the error does not name the file: \(error)")
            XCTAssertFalse("\(error)".contains("SekretValue123"), "the file's content leaked: \(error)")
        }
    }

    func testAPostgresStoreOpensShared() throws {
        let dir = NSTemporaryDirectory() + "coven-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/db-url"
        try PostgresTestServer.shared.createDatabase().write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        var config = DaemonConfig(stateDirectory: dir + "/state", worker: DaemonConfig.Worker(runtime: ["/bin/true"]))
        config.store = .postgres(.init(urlFile: file, hostID: "h1"))
        let store = try Daemon.openStore(config)
        XCTAssertTrue(store.isShared)
        XCTAssertEqual(store.hostID, "h1")
        XCTAssertEqual(try store.storedSchemaVersion(), TaskStore.schemaVersion)
    }
}
