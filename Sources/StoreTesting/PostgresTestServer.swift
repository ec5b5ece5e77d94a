import Foundation
import Synchronization

/// A throwaway PostgreSQL server for tests: Debian's binaries, a fresh cluster in a
/// temp dir, reachable only through a unix socket in that dir. initdb and postgres
/// refuse to run as root, so they run as the `postgres` system user (else `nobody`).
public final class PostgresTestServer: Sendable {
    public struct Options: Sendable {
        /// fsync, synchronous_commit and full_page_writes off: for behavioural tests,
        /// where a crash of the machine losing data does not matter.
        public var fast: Bool
        public var maxConnections: Int
        public init(fast: Bool = false, maxConnections: Int = 100) {
            self.fast = fast
            self.maxConnections = maxConnections
        }
    }

    public enum StopMode: String, Sendable { case fast, immediate }

    /// One server per test process, started by the first use and stopped at exit.
    public static let shared = PostgresTestServer(options: Options(fast: true), startsOnFirstUse: true)

    /// The database role tests connect as: an ordinary role owning their databases.
    public static let role = "coven"
    /// The cluster's superuser (initdb -U), named the same whoever runs the server.
    public static let superuser = "postgres"
    /// The socket's port number; each server has its own socket dir, so it never clashes.
    public static let port = 5432

    private let options: Options
    private let startsOnFirstUse: Bool
    private let state = Mutex<State>(State())

    private struct State {
        var running: Running?
        var databases = 0
        var lastStart: Duration?
    }

    fileprivate struct Running {
        let root: String
        let binaries: String
        let user: String
        var dataDir: String { root + "/data" }
        var socketDir: String { root + "/sock" }
        var logFile: String { root + "/server.log" }
    }

    public init(options: Options = Options()) {
        self.options = options
        self.startsOnFirstUse = false
    }

    private init(options: Options, startsOnFirstUse: Bool) {
        self.options = options
        self.startsOnFirstUse = startsOnFirstUse
    }

    /// How long the last start() took (initdb is most of it).
    public var lastStartDuration: Duration? { state.withLock { $0.lastStart } }

    public var isRunning: Bool { state.withLock { $0.running != nil } }

    /// The unix-socket dir, while running.
    public var socketDirectory: String? { state.withLock { $0.running?.socketDir } }

    /// initdb, then postgres, waiting until it accepts connections. A no-op when running.
    public func start() throws {
        try state.withLock { state throws in
            guard state.running == nil else { return }
            let clock = ContinuousClock(), began = clock.now
            let running = try Self.makeCluster(options)
            do {
                try Self.pgctl(running, ["-l", running.logFile, "-w", "-t", "30", "start"])
                try Self.psqlRun(running, "CREATE ROLE \(Self.role) LOGIN", db: "postgres")
            } catch {
                _ = try? Self.pgctl(running, ["-m", "immediate", "-w", "stop"])
                try? FileManager.default.removeItem(atPath: running.root)
                throw error
            }
            state.running = running
            state.lastStart = clock.now - began
        }
        Self.registerForExit(self)
    }

    /// Stops the server (`pg_ctl stop -m fast`, then immediate if that fails) and
    /// removes its temp dir. A no-op when not running.
    public func stop(mode: StopMode = .fast) {
        state.withLock { state in
            guard let running = state.running else { return }
            if (try? Self.pgctl(running, ["-m", mode.rawValue, "-w", "-t", "30", "stop"])) == nil, mode != .immediate {
                _ = try? Self.pgctl(running, ["-m", "immediate", "-w", "-t", "30", "stop"])
            }
            try? FileManager.default.removeItem(atPath: running.root)
            state.running = nil
        }
    }

    /// A fresh empty database owned by `coven`; returns its connection string.
    public func createDatabase(_ name: String? = nil) throws -> String {
        let running = try ensureRunning()
        let db = name ?? state.withLock { state in
            state.databases += 1
            return "test_\(getpid())_\(state.databases)"
        }
        try Self.psqlRun(running, "CREATE DATABASE \"\(db)\" OWNER \(Self.role)", db: "postgres")
        return conninfo(for: db, socketDir: running.socketDir)
    }

    /// The connection string of database `db`, as the `coven` role.
    public func conninfo(for db: String) throws -> String {
        conninfo(for: db, socketDir: try ensureRunning().socketDir)
    }

    /// Runs `sql` with psql as the superuser in `db`; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, db: String = "postgres") throws -> String {
        try Self.psqlRun(try ensureRunning(), sql, db: db)
    }

    /// The server's log so far (for a failing test's message).
    public func log() -> String {
        guard let running = state.withLock({ $0.running }) else { return "" }
        return (try? String(contentsOfFile: running.logFile, encoding: .utf8)) ?? ""
    }

    private func conninfo(for db: String, socketDir: String) -> String {
        "host=\(socketDir) port=\(Self.port) dbname=\(db) user=\(Self.role)"
    }

    private func ensureRunning() throws -> Running {
        if startsOnFirstUse { try start() }
        guard let running = state.withLock({ $0.running }) else { throw PostgresTestServerError.notRunning }
        return running
    }
}

// MARK: Cluster set-up and processes

extension PostgresTestServer {
    private static func makeCluster(_ options: Options) throws -> Running {
        let binaries = try findBinaries()
        let (user, uid, gid) = try unprivilegedUser()
        var template = Array("/tmp/coven-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresTestServerError.tempDir(errno: errno) }
        let root = String(cString: made)
        let running = Running(root: root, binaries: binaries, user: user)
        do {
            try FileManager.default.createDirectory(atPath: running.socketDir, withIntermediateDirectories: false)
            for path in [root, running.socketDir] where chown(path, uid, gid) != 0 {
                throw PostgresTestServerError.tempDir(errno: errno)
            }
            // --no-sync: a test cluster need not survive a power cut; it halves initdb.
            try runAsUser(running, binaries + "/initdb",
                          ["-D", running.dataDir, "-U", superuser, "-A", "trust", "-E", "UTF8",
                           "--locale=C", "--no-sync", "--no-instructions"])
            var conf = """

                # coven-supervisor tests (StoreTesting): unix socket only, in the temp dir.
                listen_addresses = ''
                unix_socket_directories = '\(running.socketDir)'
                port = \(port)
                max_connections = \(options.maxConnections)
                shared_buffers = 32MB
                log_min_messages = warning
                """
            if options.fast {
                conf += "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: running.dataDir + "/postgresql.conf"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(conf.utf8))
            try handle.close()
            return running
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    /// The newest installed version's bin dir (/usr/lib/postgresql/<version>/bin).
    private static func findBinaries() throws -> String {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap { Int($0) }
            .filter { FileManager.default.isExecutableFile(atPath: "\(base)/\($0)/bin/initdb") }
        guard let newest = versions.max() else { throw PostgresTestServerError.notInstalled(base) }
        return "\(base)/\(newest)/bin"
    }

    private static func unprivilegedUser() throws -> (String, uid_t, gid_t) {
        for name in ["postgres", "nobody"] {
            if let pw = getpwnam(name) { return (name, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        }
        throw PostgresTestServerError.noUser
    }

    private static func pgctl(_ running: Running, _ args: [String]) throws {
        try runAsUser(running, running.binaries + "/pg_ctl", ["-D", running.dataDir, "-s"] + args)
    }

    @discardableResult
    private static func psqlRun(_ running: Running, _ sql: String, db: String) throws -> String {
        try runAsUser(running, running.binaries + "/psql",
                      ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", running.socketDir, "-p", String(port),
                       "-U", superuser, "-d", db, "-c", sql])
    }

    /// Runs a program as the server's user (as root: through runuser), from the temp
    /// dir (the test's own cwd may be closed to that user); returns its stdout.
    @discardableResult
    private static func runAsUser(_ running: Running, _ program: String, _ args: [String]) throws -> String {
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", running.user, "--", program] + args : [program] + args
        let result = try ChildProcess.run(argv, directory: running.root)
        guard result.status == 0 else {
            throw PostgresTestServerError.commandFailed(program: (program as NSString).lastPathComponent,
                                                        status: result.status, stderr: result.stderr)
        }
        return result.stdout.trimmingCharacters(in: .newlines)
    }
}

// MARK: Stopping at exit

private let liveServers = Mutex<[ObjectIdentifier: PostgresTestServer]>([:])
private let exitHookInstalled = Atomic<Bool>(false)

extension PostgresTestServer {
    /// Servers still running when the test process exits are stopped then. A killed
    /// process leaves its server and temp dir in /tmp, nothing else.
    fileprivate static func registerForExit(_ server: PostgresTestServer) {
        liveServers.withLock { $0[ObjectIdentifier(server)] = server }
        if exitHookInstalled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            atexit {
                let servers = liveServers.withLock { Array($0.values) }
                for server in servers { server.stop() }
            }
        }
    }
}

public enum PostgresTestServerError: Error, CustomStringConvertible {
    case notInstalled(String)
    case noUser
    case tempDir(errno: Int32)
    case commandFailed(program: String, status: Int32, stderr: String)
    case notRunning
    case spawn(program: String, errno: Int32)

    public var description: String {
        switch self {
        case .notInstalled(let base): return "no PostgreSQL server binaries under \(base) (make deps installs Debian's postgresql)"
        case .noUser: return "neither a postgres nor a nobody user to run the test server as"
        case .tempDir(let code): return "cannot set up the test server's temp dir: \(String(cString: strerror(code)))"
        case .commandFailed(let program, let status, let stderr):
            return "\(program) exited with status \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .notRunning: return "the test server is not running (call start())"
        case .spawn(let program, let code): return "cannot start \(program): \(String(cString: strerror(code)))"
        }
    }
}
