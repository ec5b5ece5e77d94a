import Foundation
import HTTP
import Sandbox
import Supervisor

/// What the daemon takes besides its configuration (tests inject here).
public struct DaemonOptions: Sendable {
    /// Local mode's demo git server and token provider (nil with a config file).
    public var local: LocalMode?
    /// Replaces the publisher the configuration implies (GitHub or the log).
    public var publisher: (any Publisher)?
    /// Replaces the git token provider the configuration implies.
    public var tokens: (any GitTokenProvider)?
    /// Replaces the configuration's `http` limits.
    public var httpLimits: HTTPServerLimits?
    /// Structured log events (default: JSON lines on stderr).
    public var log: @Sendable (String, [String: String]) -> Void
    /// Where the log publisher writes (default: stderr).
    public var publicationLog: FileHandle
    /// Where `@bot review` queues a review (default: `ReviewsNotEnabled`, which says so).
    public var reviews: (any ReviewRequester)?

    public init(local: LocalMode? = nil, publisher: (any Publisher)? = nil, tokens: (any GitTokenProvider)? = nil,
                httpLimits: HTTPServerLimits? = nil,
                log: @escaping @Sendable (String, [String: String]) -> Void = JSONLog(component: "serve").event,
                publicationLog: FileHandle = .standardError, reviews: (any ReviewRequester)? = nil) {
        self.reviews = reviews
        self.local = local
        self.publisher = publisher
        self.tokens = tokens
        self.httpLimits = httpLimits
        self.log = log
        self.publicationLog = publicationLog
    }
}

/// `coven-supervisor serve`: one HTTP listener with
///
/// - `POST /webhook` (`WebhookEndpoint`; 404 when no GitHub App is configured)
/// - the task API under `/api/tasks` (`TaskAPI`)
/// - `GET /healthz`: 200 `{"ok":true}` when the store answers, else 503
/// - `GET /metrics`: Prometheus text (`DaemonMetrics`)
/// - the web dashboard at `/` (`Dashboard`), on by default on loopback only
/// - local mode only: the demo repositories under `/git/`
///
/// in front of the durable `TaskStore` and the `TaskSupervisor` that runs attempts in
/// sandboxes. `stop()` is the SIGTERM path: stop accepting, then the supervisor's
/// shutdown (grace, teardown; unfinished attempts are recovered at the next start).
public final class Daemon: @unchecked Sendable {
    public let config: DaemonConfig
    public let store: TaskStore
    public let supervisor: TaskSupervisor
    public let metrics: DaemonMetrics
    public let taskAPI: TaskAPI
    public let webhooks: WebhookEndpoint?
    /// Maintainers' commands (GitHub mode only).
    public let commands: CommandResponder?
    /// The web dashboard at `/`; nil when off (`dashboard.enabled`, or no API token).
    public let dashboard: Dashboard?
    public let local: LocalMode?
    /// Where per-attempt directories are made.
    public let attemptsDirectory: String
    private let server: HTTPServer
    /// The routes the listener serves, as "METHOD /pattern".
    public let routes: [String]
    private let log: @Sendable (String, [String: String]) -> Void
    private let stopLock = NSLock()
    private var stopped = false

    public init(config: DaemonConfig, options: DaemonOptions = DaemonOptions()) throws {
        self.config = config
        self.local = options.local
        self.log = options.log
        let log = options.log

        // Cgroups before anything else: on v2 the daemon may move into a leaf of its own
        // cgroup (…/supervisor), which works only while it has started no other process.
        try Self.prepareCgroups(config, log: log)

        if options.local != nil, config.sandbox.network == .proxy, config.listen.port == 0 {
            throw DaemonError("local mode needs a fixed listen port: the sandboxes' egress allowlist names the daemon's port")
        }
        try Self.prepareStateDirectory(config.stateDirectory)
        let store = try Self.openStore(config)
        let metrics = DaemonMetrics()
        self.store = store
        self.metrics = metrics
        store.setInstallationLimits(config.installations.limits)

        // Attempts: under the state directory when sandboxes can reach it.
        attemptsDirectory = try Self.chooseAttemptsDirectory(stateDirectory: config.stateDirectory, log: log)
        var attemptConfig = config.attemptConfig(attemptsDirectory: attemptsDirectory)
        // Read first: attempts redact it from their output and results.
        let secret = try config.github.map { try Self.readWebhookSecret($0.webhookSecret) }
        if let secret { attemptConfig.redactedSecrets = [String(decoding: secret, as: UTF8.self)] }
        attemptConfig.binds = try Self.reachableBinds(attemptConfig.binds, runtime: attemptConfig.runtime,
                                                      spill: (attemptsDirectory as NSString).deletingLastPathComponent, log: log)
        let runner: AttemptRunner
        do {
            // The default lock directory: the daemon and CLIs beside it never lease the same uid.
            runner = try AttemptRunner(config: attemptConfig,
                                       identities: config.sandbox.uidRange.map { HostIdentityPool(range: $0) } ?? .shared)
        } catch {
            throw DaemonError("cannot prepare attempts: \(error)")
        }

        // GitHub, or local publication.
        var publisher: any Publisher = LogPublisher(handle: options.publicationLog)
        var tokens: (any GitTokenProvider)? = options.local?.tokenProvider
        var checkouts: (any CheckoutResolver)? = options.local?.checkoutResolver
        var client: GitHubClient?
        if let gh = config.github {
            let wiring = try Self.gitHubWiring(gh, stateDirectory: config.stateDirectory, store: store,
                                               familiars: config.familiars, log: log)
            // The log too, after GitHub: successes are logged in GitHub mode as in local mode.
            publisher = PublisherChain([wiring.publisher, LogPublisher(handle: options.publicationLog)])
            tokens = wiring.tokens
            checkouts = wiring.checkouts
            client = wiring.client
        }
        if let p = options.publisher { publisher = p }
        if let t = options.tokens { tokens = t }

        let supervisor = TaskSupervisor(store: store, runner: runner, tokens: tokens, publisher: publisher,
                                        settings: config.supervisorSettings, log: log, observer: metrics.attemptObserver,
                                        checkouts: checkouts)
        self.supervisor = supervisor

        let apiToken = try config.api.tokenPath.map { try TaskAPI.readToken(path: $0) }
        taskAPI = TaskAPI(token: apiToken, store: store, supervisor: supervisor, log: log)
        let commands = client.map { CommandResponder(client: $0, store: store, supervisor: supervisor,
                                                     reviews: options.reviews ?? ReviewLaneRequester(store: store, supervisor: supervisor), log: log) }
        self.commands = commands
        webhooks = secret.map { s in
            WebhookEndpoint(secret: s, familiars: config.familiars, store: store, metrics: metrics, log: log,
                            policy: config.installations, commands: commands,
                            purge: { id in try Self.purge(installation: id, store: store, supervisor: supervisor) },
                            announce: { supervisor.announce($0) },
                            cancel: { _ = try? supervisor.cancel(taskID: $0) })
        }

        var router = Router()
        if let webhooks {
            webhooks.register(on: &router)
        } else {
            router.post("/webhook") { _ in
                metrics.countWebhookResponse(status: 404)
                return .json(404, ["ok": false, "error": "webhooks are off: no github section in the configuration"])
            }
        }
        taskAPI.register(on: &router)
        router.get("/healthz") { _ in
            store.isHealthy() ? .json(200, ["ok": true]) : .json(503, ["ok": false, "error": "task store unreachable"])
        }
        router.get("/metrics") { _ in
            HTTPResponse(status: 200, headers: ["Content-Type": DaemonMetrics.contentType],
                         body: Data(metrics.render(store: store).utf8))
        }
        let localMode = options.local != nil
        let describe: @Sendable () -> HTTPResponse = {
            .json(200, ["service": "coven-supervisor", "mode": localMode ? "local" : "github",
                        "openapi": OpenAPIDocument.path])
        }
        // On by default only on loopback; it needs the API token to log in with.
        if config.dashboard.isEnabled(listen: config.listen), taskAPI.isEnabled {
            let local = options.local
            dashboard = Dashboard(api: taskAPI, store: store, supervisor: supervisor, metrics: metrics,
                                  sessionLifetime: config.dashboard.sessionLifetime,
                                  gitHubWeb: config.github.flatMap { Dashboard.gitHubWeb(apiBase: $0.apiBaseURL) },
                                  linksCheckRuns: config.github != nil,
                                  mode: localMode ? "local" : (config.github != nil ? "github" : "api-only"),
                                  demoTask: { local?.demoTaskJSON() }, log: log)
            dashboard?.register(on: &router, serviceDescription: describe)
        } else {
            dashboard = nil
            router.get("/") { _ in describe() }
        }
        router.get(OpenAPIDocument.path) { _ in .json(200, data: OpenAPIDocument.data) }
        options.local?.registerGit(on: &router)
        routes = router.registered
        server = HTTPServer(host: config.listen.host, port: config.listen.port, limits: options.httpLimits ?? config.http,
                            log: { line in log("http", ["message": line]) }, router: router)
        metrics.observeHTTP { [weak server] in server?.statistics }
    }

    /// An uninstall: the installation's live tasks are cancelled (running sandboxes torn
    /// down), then everything kept of it is removed.
    static func purge(installation: Int64, store: TaskStore, supervisor: TaskSupervisor) throws -> InstallationPurge {
        for id in try store.liveTaskIDs(installationID: installation) { _ = try? supervisor.cancel(taskID: id) }
        return try store.purgeInstallation(installation)
    }

    /// Prepares the place sandbox cgroups go and logs it. As root, a configured limit the
    /// host cannot enforce stops serve here, with the fix for this layout (every attempt would
    /// fail otherwise); rootless, it is logged and attempts run without it.
    static func prepareCgroups(_ config: DaemonConfig, log: @Sendable (String, [String: String]) -> Void) throws {
        let cg = Cgroups.prepare()
        var fields = ["version": cg.version.rawValue, "controllers": [("memory", cg.memory), ("pids", cg.pids), ("cpu", cg.cpu)]
            .filter(\.1).map(\.0).joined(separator: " ")]
        if let p = cg.placement { fields["placement"] = p }
        log("cgroups", fields)
        let limits = ResourceLimits(memoryBytes: config.sandbox.memory, pids: config.sandbox.pids, cpus: config.sandbox.cpus)
        let missing = cg.unenforced(limits)
        if missing.isEmpty { return }
        if geteuid() == 0 {
            throw DaemonError("cgroups: cannot enforce the sandbox " + missing.map(\.limit.rawValue).joined(separator: ", ") + " limit: "
                              + missing[0].reason + (cg.fix.map { "; fix: \($0)" } ?? ""))
        }
        for m in missing { log("limit_not_enforced", ["limit": m.limit.rawValue, "reason": m.reason]) }
    }

    /// Recovers interrupted attempts, starts dispatching, then listens. Returns the port.
    @discardableResult
    public func start() throws -> UInt16 {
        try supervisor.start()
        let port: UInt16
        do {
            port = try server.start()
        } catch {
            supervisor.shutdown()
            throw DaemonError("cannot listen on \(config.listen): \(error)")
        }
        if let local {
            let host = ["0.0.0.0", "::", ""].contains(config.listen.host) ? "127.0.0.1" : config.listen.host
            let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            // In proxy mode sandboxes reach the listener by the name the egress policy pins.
            local.attach(baseURL: base, sandboxBaseURL: config.sandbox.network == .proxy ? LocalMode.sandboxBaseURL(port: port) : base)
            try local.writeDemoTask()
        }
        log("listening", ["address": config.listen.host, "port": String(port),
                          "mode": local != nil ? "local" : (config.github != nil ? "github" : "api-only"),
                          "webhooks": webhooks != nil ? "on" : "off", "task_api": taskAPI.isEnabled ? "on" : "off",
                          "dashboard": dashboard != nil ? "on" : "off"])
        return port
    }

    /// The bound port (0 before `start`).
    public var port: UInt16 { server.port }

    /// Stops accepting (webhooks and API), then shuts the supervisor down: running
    /// attempts get the shutdown grace, counted from this call, then are torn down and
    /// queued again (uncounted); publications go on until the same deadline, and what is
    /// left stays in the store for the next start. Safe to call more than once.
    public func stop() {
        stopLock.lock()
        if stopped { stopLock.unlock(); return }
        stopped = true
        stopLock.unlock()
        let deadline = Date().addingTimeInterval(config.worker.shutdownGrace.seconds)
        log("stopping", ["running": String(supervisor.runningTaskIDs.count)])
        server.shutdown()
        supervisor.shutdown(deadline: deadline)
        Sandbox.finishCleanup()
        log("stopped", [:])
    }

    // MARK: - Set-up helpers

    /// Creates the state directory, 0700: it holds the store, which only the daemon reads.
    /// (As root, sandboxes reach their attempt directories under /run instead.)
    public static func prepareStateDirectory(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw DaemonError("cannot create the state directory \(dir): \(error.localizedDescription)")
        }
        chmod(dir, 0o700)
    }

    /// `<state>/attempts` rootless (sandboxes run as the daemon's own uid); as root, where
    /// sandbox uids cannot traverse the private state directory,
    /// `/run/coven-supervisor/<hash of the state directory>/attempts`.
    static func chooseAttemptsDirectory(stateDirectory: String, log: @Sendable (String, [String: String]) -> Void) throws -> String {
        let preferred = stateDirectory + "/attempts"
        guard geteuid() == 0, !HostPaths.traversableByOthers(stateDirectory) else { return preferred }
        // One directory per state directory, so two daemons on a host never share one.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in stateDirectory.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let fallback = "/run/coven-supervisor/" + String(hash, radix: 16)
        try FileManager.default.createDirectory(atPath: fallback + "/attempts", withIntermediateDirectories: true)
        for d in ["/run/coven-supervisor", fallback, fallback + "/attempts"] { chmod(d, 0o711) }
        log("attempts_directory", ["path": fallback + "/attempts",
                                   "why": "sandbox uids cannot traverse \(stateDirectory) (it is 0700, or a parent lacks o+x)"])
        return fallback + "/attempts"
    }

    /// Makes the runtime visible and bind sources reachable: an absolute runtime outside
    /// the system directories and every bind gets a read-only bind of itself; a bind
    /// whose source sandbox uids cannot reach (root only) is copied under `spill` first.
    static func reachableBinds(_ binds: [Bind], runtime: [String], spill: String,
                               log: @Sendable (String, [String: String]) -> Void) throws -> [Bind] {
        var out = binds
        if let argv0 = runtime.first, argv0.hasPrefix("/"), HostPaths.hostPath(ofSandboxCommand: argv0, binds: binds) == nil {
            out.append(Bind(source: argv0))
        }
        guard geteuid() == 0 else { return out }
        for (i, b) in out.enumerated() where !b.writable && !HostPaths.traversableByOthers((b.source as NSString).deletingLastPathComponent) {
            let copy = spill + "/binds/\(i)-" + (b.source as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: copy)
            try FileManager.default.createDirectory(atPath: spill + "/binds", withIntermediateDirectories: true)
            chmod(spill + "/binds", 0o711)
            do { try FileManager.default.copyItem(atPath: b.source, toPath: copy) } catch {
                throw DaemonError("bind \(b.source): sandbox uids cannot reach it and copying it failed: \(error.localizedDescription)")
            }
            _ = Process.run(["/bin/chmod", "-R", "go+rX", copy])
            log("bind_copied", ["source": b.source, "copy": copy, "why": "a parent directory lacks o+x"])
            out[i].source = copy
        }
        return out
    }

    /// The webhook secret's bytes (trailing newline and spaces trimmed). Errors name the
    /// source, never the value.
    public static func readWebhookSecret(_ source: DaemonConfig.SecretSource) throws -> [UInt8] {
        let text: String
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DaemonError("webhook secret file \(path) is not readable: \(String(cString: strerror(errno)))")
            }
            text = String(decoding: data, as: UTF8.self)
        case .environment(let name):
            guard let v = ProcessInfo.processInfo.environment[name] else {
                throw DaemonError("webhook secret: environment variable \(name) is not set")
            }
            text = v
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw DaemonError("webhook secret (\(source)) is empty") }
        return Array(secret.utf8)
    }
}

extension Process {
    /// Runs a command to completion; its exit status (or -1 when it cannot start).
    static func run(_ argv: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
