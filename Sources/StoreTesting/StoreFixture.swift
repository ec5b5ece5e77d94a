import Foundation
import Synchronization
import PostgresStore
import Supervisor

/// The engine the store's behavioural suite runs on: SQLite by default; PostgreSQL (a
/// real server, `PostgresTestServer.shared`) when `COVEN_TEST_STORE=postgres`, which
/// `make test` sets for its second pass over the suite.
public enum StoreEngine: String, Sendable {
    case sqlite, postgres

    public static var current: StoreEngine {
        ProcessInfo.processInfo.environment["COVEN_TEST_STORE"].flatMap(StoreEngine.init(rawValue:)) ?? .sqlite
    }
}

/// One test's store: a state directory, and on PostgreSQL a fresh database of its own.
/// `open` again gives a second store on the same data, as a restarted daemon (or, with
/// another `hostID`, another host of the fleet) would have.
public final class StoreFixture: @unchecked Sendable {  // set up once, then read only
    public let engine: StoreEngine
    public let directory: String
    /// The PostgreSQL database's connection string (nil on SQLite).
    public let conninfo: String?

    public init(engine: StoreEngine = .current, directory: String) throws {
        self.engine = engine
        self.directory = directory
        conninfo = engine == .postgres ? try PostgresTestServer.shared.createDatabase() : nil
    }

    /// A store on the fixture's data. `lease` and `hostID` matter on PostgreSQL only.
    public func open(clock: @escaping @Sendable () -> Date = { Date() }, hostID: String = "test-host",
                     lease: TimeInterval = 15) throws -> TaskStore {
        switch engine {
        case .sqlite:
            return try TaskStore(stateDirectory: directory, clock: clock)
        case .postgres:
            guard let conninfo else { preconditionFailure("a postgres fixture without a database") }
            return TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: hostID, lease: lease, poolSize: 4),
                             clock: clock)
        }
    }
}

extension StoreFixture {
    private static let byDirectory = Synchronization.Mutex<[String: StoreFixture]>([:])

    /// The store of the test whose state directory is `directory`, on `StoreEngine.current`:
    /// the same data every time for one directory (a reopen), a fresh database per directory.
    public static func store(in directory: String, clock: @escaping @Sendable () -> Date = { Date() },
                             hostID: String = "test-host", lease: TimeInterval = 15) throws -> TaskStore {
        try fixture(for: directory).open(clock: clock, hostID: hostID, lease: lease)
    }

    public static func fixture(for directory: String) throws -> StoreFixture {
        if let f = byDirectory.withLock({ $0[directory] }) { return f }
        let f = try StoreFixture(directory: directory)
        return byDirectory.withLock { map in
            if let existing = map[directory] { return existing }
            map[directory] = f
            return f
        }
    }

    /// Skips a test of what only the SQLite engine has (its file, WAL, group commit).
    public static var isSQLite: Bool { StoreEngine.current == .sqlite }
}
