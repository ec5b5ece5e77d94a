import XCTest
import Foundation
@testable import Adapter
@testable import Supervisor
import PostgresStore
import Sandbox
import StoreTesting

/// `store migrate`: a SQLite store copied into a real PostgreSQL database reads the same
/// through `TaskStore`, in one transaction, never revealing the connection string.
final class StoreMigrationTests: XCTestCase {
    var dir = ""
    let secret = "SekretValue123"

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-migrate-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    var sqlitePath: String { dir + "/coven.db" }

    static func spec(_ id: String, installation: Int64?) -> TaskSpec {
        TaskSpec(id: id, installationID: installation,
                 repo: RepoRef(owner: "o", name: "r", cloneURL: "https://github.com/o/r.git", defaultBranch: "main"),
                 trigger: .issueAssigned, kind: .fixIssue(issueNumber: Int(id.dropFirst()) ?? 99, title: "Fix it", body: "Body"),
                 familiar: FamiliarRef(id: "f", displayName: "F"))
    }

    /// A store with a finished task, a running one (its daemon was killed), a queued one,
    /// deliveries, publications, usage and publication refs.
    func populatedSQLite() throws -> TaskStore {
        let store = try TaskStore(path: sqlitePath)
        try store.insert([Self.spec("t1", installation: 1), Self.spec("t2", installation: 2)])
        _ = try store.recordDelivery(deliveryID: "d1", event: "issues", payloadSHA256: String(repeating: "a", count: 64),
                                     outcome: .queued(taskID: "t3"), task: Self.spec("t3", installation: 1), installationID: 1)
        _ = try store.recordDelivery(deliveryID: "d2", event: "ping", payloadSHA256: String(repeating: "b", count: 64),
                                     outcome: .ignored(reason: "unsupported event"), task: nil, installationID: 1)
        let first = try XCTUnwrap(try store.claimNext(globalLimit: 5, perInstallationLimit: 5))
        let output = RedactedOutput(data: Data("line one\n\u{0}binary".utf8), truncated: true, originalByteCount: 9000)
        _ = try store.recordAttempt(taskID: first.spec.id, attempt: first.attempt,
                                    AttemptEnd(report: ExitReport(exitClass: .exited(code: 0)),
                                               outcome: AttemptOutcome(attemptClass: .completed, disposition: .success,
                                                                       reason: "done"),
                                               stdout: output, stderr: output, egressLog: #"{"connections":[]}"#),
                                    retry: RetryPolicy())
        try store.setCheckRun(4242, taskID: first.spec.id)
        _ = try XCTUnwrap(try store.claimNext(globalLimit: 5, perInstallationLimit: 5))   // left running
        return store
    }

    func target() throws -> String { try PostgresTestServer.shared.createDatabase() }

    func fleetStore(_ conninfo: String, host: String = "b") throws -> TaskStore {
        TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: host, poolSize: 2))
    }

    func testMigratedStoreReadsTheSame() throws {
        let sqlite = try populatedSQLite()
        let conninfo = try target()
        let summary = try StoreMigration.run(sqlitePath: sqlitePath, conninfo: conninfo)
        let pg = try fleetStore(conninfo)

        XCTAssertEqual(summary.map(\.table), StoreMigration.tables.map(\.name))
        XCTAssertEqual(summary.first { $0.table == "tasks" }?.rows, 3)
        XCTAssertEqual(summary.first { $0.table == "deliveries" }?.rows, 2)
        XCTAssertEqual(try pg.list(limit: 100), try sqlite.list(limit: 100), "the same tasks, in the same order")
        for id in ["t1", "t2", "t3"] {
            XCTAssertEqual(try pg.task(id: id), try sqlite.task(id: id), "task \(id) and its attempts")
        }
        XCTAssertNotNil(try pg.task(id: "t1")?.attempts.first?.stdout.data.count)
        for d in ["d1", "d2"] { XCTAssertEqual(try pg.delivery(id: d), try sqlite.delivery(id: d)) }
        // The outbox's seq numbers are the target's own; the events and their order are kept.
        let outbox = { (s: TaskStore) in try s.pendingPublications().map { p in "\(p.event) tries \(p.tries)" } }
        XCTAssertEqual(try outbox(pg), try outbox(sqlite))
        XCTAssertEqual(try outbox(pg).count, 3)
        XCTAssertEqual(try pg.checkRunID(taskID: "t1"), 4242)
        XCTAssertEqual(try pg.usage(on: nil), try sqlite.usage(on: nil))
        XCTAssertEqual(try pg.counts(), try sqlite.counts())
        XCTAssertEqual(try sqlite.storedSchemaVersion(), TaskStore.schemaVersion, "the source is still a store")
    }

    func testClaimsContinueAfterTheMigratedTurns() throws {
        _ = try populatedSQLite()
        let conninfo = try target()
        _ = try StoreMigration.run(sqlitePath: sqlitePath, conninfo: conninfo)
        let pg = try fleetStore(conninfo)
        try pg.insert([Self.spec("t4", installation: 2), Self.spec("t5", installation: 1)])
        // Installation 1 had the first claim (t1), installation 2 the second (t2): 1 goes
        // first (t3), and its new turn comes after 2's copied one only if the turn numbers
        // continue above the copied ones.
        let order = try (0..<3).map { _ in try pg.claimNext(globalLimit: 10, perInstallationLimit: 10)?.spec.id }
        XCTAssertEqual(order, ["t3", "t4", "t5"])
    }

    func testARunningAttemptIsRecoveredAsACrashByTheFleet() throws {
        let sqlite = try populatedSQLite()
        let running = try XCTUnwrap(try sqlite.list(state: .running).first?.spec.id)
        let conninfo = try target()
        _ = try StoreMigration.run(sqlitePath: sqlitePath, conninfo: conninfo)
        let pg = try fleetStore(conninfo)
        let lease = try XCTUnwrap(try pg.lease(of: AttemptKey(taskID: running, number: 1)))
        XCTAssertEqual(lease.host, "local", "held by the host it ran on")
        XCTAssertEqual(lease.expires, Date(timeIntervalSince1970: 0), "and already expired")

        let recovered = try pg.recoverExpiredLeases(maxCrashInterruptions: 3)
        XCTAssertEqual(recovered, [RecoveredTask(taskID: running, interruptedAttempt: 1, state: .queued)])
        XCTAssertEqual(try pg.task(id: running)?.attempts.last?.interruptedBy, .crash)
    }

    func testATargetWithTasksIsRefusedAndLeftUnchanged() throws {
        _ = try populatedSQLite()
        let conninfo = try target()
        let pg = try fleetStore(conninfo)
        try pg.insert([Self.spec("already-here", installation: 9)])
        let before = try pg.list(limit: 100)

        XCTAssertThrowsError(try StoreMigration.run(sqlitePath: sqlitePath, conninfo: conninfo)) { error in
            XCTAssertEqual(error as? StoreMigrationError, .targetNotEmpty(table: "tasks", rows: 1))
            XCTAssertTrue("\(error)".contains("already has 1 row in tasks"), "\(error)")
        }
        XCTAssertEqual(try pg.list(limit: 100), before)
        XCTAssertNil(try pg.delivery(id: "d1"))
    }

    func testAFailureInAnyTableCommitsNothing() throws {
        _ = try populatedSQLite()
        let conninfo = try target()
        _ = try fleetStore(conninfo)   // the schema, so a constraint can be added to it
        let db = try XCTUnwrap(conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }?.dropFirst("dbname=".count))
        try PostgresTestServer.shared.psql("ALTER TABLE publication_refs ADD CONSTRAINT refuse CHECK (check_run_id < 0)",
                                           db: String(db))

        XCTAssertThrowsError(try StoreMigration.run(sqlitePath: sqlitePath, conninfo: conninfo)) { error in
            guard case .copyFailed(let table, _)? = error as? StoreMigrationError else { return XCTFail("\(error)") }
            XCTAssertEqual(table, "publication_refs", "the error names the table")
        }
        let pg = try fleetStore(conninfo)
        XCTAssertEqual(try pg.list(limit: 100), [], "the tables copied before it were rolled back too")
        XCTAssertEqual(try pg.usage(on: nil), [])
    }

    func testAMissingSourceIsRefusedWithoutCreatingIt() throws {
        let missing = dir + "/nope/coven.db"
        XCTAssertThrowsError(try StoreMigration.run(sqlitePath: missing, conninfo: try target())) { error in
            XCTAssertEqual(error as? StoreMigrationError, .sourceMissing(path: missing))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nope"))
    }

    // MARK: - The command

    func urlFile(_ conninfo: String) throws -> String {
        let path = dir + "/pg-url"
        FileManager.default.createFile(atPath: path, contents: Data((conninfo + " password=\(secret)\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        return path
    }

    func migrate(_ args: [String]) throws -> (status: Int32, out: String) {
        try runToEnd(ServeTests.binary, ["store", "migrate"] + args, mergeStderr: true)
    }

    func testTheCommandPrintsASummaryAndNeverTheConnectionString() throws {
        _ = try populatedSQLite()
        let file = try urlFile(try target())
        let r = try migrate(["--from", "sqlite:" + sqlitePath, "--to", "postgres", "--url-file", file])
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("tasks               3 rows"), r.out)
        XCTAssertTrue(r.out.contains("publication_refs    1 row\n"), r.out)
        XCTAssertFalse(r.out.contains(secret), r.out)

        // A second run: the target has rows now.
        let again = try migrate(["--from", "sqlite:" + sqlitePath, "--to", "postgres", "--url-file", file])
        XCTAssertEqual(again.status, 1, again.out)
        XCTAssertTrue(again.out.contains("already has 3 rows in tasks"), again.out)
        XCTAssertFalse(again.out.contains(secret), again.out)
    }

    func testAnUnreachableTargetFailsWithoutTheConnectionString() throws {
        _ = try populatedSQLite()
        let conninfo = try target().replacingOccurrences(of: "dbname=", with: "dbname=missing_")
        let r = try migrate(["--from", "sqlite:" + sqlitePath, "--to", "postgres", "--url-file", try urlFile(conninfo)])
        XCTAssertEqual(r.status, 1, r.out)
        XCTAssertTrue(r.out.contains("cannot open the target database"), r.out)
        XCTAssertFalse(r.out.contains(secret), r.out)
    }

    func testTheURLFileComesFromTheConfig() throws {
        _ = try populatedSQLite()
        let file = try urlFile(try target())
        try #"{"state_dir": "state", "worker": {"runtime": ["/bin/true"]}, "store": {"kind": "postgres", "url_file": "pg-url"}}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        _ = file
        let r = try migrate(["--from", "sqlite:" + sqlitePath, "--to", "postgres", "--config", dir + "/config.json"])
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertFalse(r.out.contains(secret), r.out)
    }

    func testASourceAnotherProcessHasOpenIsRefused() throws {
        let store = try populatedSQLite()   // this test process is "the daemon"
        let r = try migrate(["--from", "sqlite:" + sqlitePath, "--to", "postgres", "--url-file", try urlFile(try target())])
        XCTAssertEqual(r.status, 1, r.out)
        XCTAssertTrue(r.out.contains("stop the daemon"), r.out)
        withExtendedLifetime(store) {}
    }

    func testUsageErrors() throws {
        let r = try migrate(["--from", "/x.db", "--to", "postgres", "--url-file", "f"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.out.contains("is not sqlite:PATH"), r.out)
        let help = try migrate(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.contains("Stop the daemon first"), help.out)
    }
}
