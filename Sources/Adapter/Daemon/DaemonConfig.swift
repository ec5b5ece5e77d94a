import Foundation
import HTTP
import Sandbox
import Supervisor

/// The daemon's configuration: one JSON file (docs/configuration.md), or the embedded
/// local-mode default. Secrets are never held here, only where to read them.
public struct DaemonConfig: Sendable, Equatable {
    /// Where the HTTP server listens.
    public var listen: ListenAddress
    /// The state directory (task store, attempt directories); absolute.
    public var stateDirectory: String
    /// The GitHub App; nil in local mode (no webhooks, publication to the log).
    public var github: GitHub?
    public var worker: Worker
    public var sandbox: SandboxSettings
    public var familiars: [FamiliarConfig]
    public var api: API
    /// The listener's connection, body and timeout limits (`http`).
    public var http: HTTPServerLimits
    /// The web dashboard at `/` (`dashboard`).
    public var dashboard: Dashboard = Dashboard()
    /// Which installations, repositories and familiars are served, with each
    /// installation's limits (`installations`); empty: all, unlimited.
    public var installations: InstallationPolicy = InstallationPolicy()
    /// Where the queue lives (`store`): SQLite in the state directory, or a fleet's PostgreSQL.
    public var store: Store = .sqlite

    public init(listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8787), stateDirectory: String,
                github: GitHub? = nil, worker: Worker, sandbox: SandboxSettings = SandboxSettings(),
                familiars: [FamiliarConfig] = [], api: API = API(), http: HTTPServerLimits = HTTPServerLimits()) {
        self.listen = listen
        self.http = http
        self.stateDirectory = stateDirectory
        self.github = github
        self.worker = worker
        self.sandbox = sandbox
        self.familiars = familiars
        self.api = api
    }

    /// `host:port`, `[v6]:port`.
    public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        /// 0 picks a free port (tests).
        public var port: UInt16
        public init(host: String, port: UInt16) { self.host = host; self.port = port }

        /// Parses "127.0.0.1:8787", "0.0.0.0:80", "[::1]:8787", ":8787" (all interfaces).
        public static func parse(_ text: String) -> ListenAddress? {
            let t = text.trimmingCharacters(in: .whitespaces)
            let host: String
            let portText: Substring
            if t.hasPrefix("[") {
                guard let close = t.firstIndex(of: "]"), t[t.index(after: close)...].hasPrefix(":") else { return nil }
                host = String(t[t.index(after: t.startIndex)..<close])
                portText = t[t.index(close, offsetBy: 2)...]
            } else {
                guard let colon = t.lastIndex(of: ":"), !t[..<colon].contains(":") else { return nil }
                host = t[..<colon].isEmpty ? "0.0.0.0" : String(t[..<colon])
                portText = t[t.index(after: colon)...]
            }
            guard !host.isEmpty, !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
                  let port = UInt16(portText) else { return nil }
            return ListenAddress(host: host, port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

        /// 127.0.0.0/8, ::1 and `localhost`: reachable from this host only.
        public static func isLoopback(_ host: String) -> Bool {
            let h = host.lowercased()
            if h == "localhost" || h == "::1" { return true }
            let parts = h.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
        }
    }

    /// Where a secret is read from at start (never the secret itself).
    public enum SecretSource: Sendable, Equatable, CustomStringConvertible {
        case file(String)
        case environment(String)
        public var description: String {
            switch self {
            case .file(let p): return "file \(p)"
            case .environment(let n): return "environment variable \(n)"
            }
        }
    }

    public struct GitHub: Sendable, Equatable {
        /// The App ID (digits) or client ID.
        public var appID: String
        /// The App's PEM private key file.
        public var privateKeyPath: String
        public var webhookSecret: SecretSource
        public var apiBaseURL: URL

        public static let defaultAPIBaseURL = URL(string: "https://api.github.com")!

        public init(appID: String, privateKeyPath: String, webhookSecret: SecretSource,
                    apiBaseURL: URL = GitHub.defaultAPIBaseURL) {
            self.appID = appID; self.privateKeyPath = privateKeyPath
            self.webhookSecret = webhookSecret; self.apiBaseURL = apiBaseURL
        }
    }

    public struct Worker: Sendable, Equatable {
        /// The runtime's argv (the contract's `--headless --context … --output …` are appended).
        public var runtime: [String]
        /// Wall-clock limit of one attempt.
        public var timeout: Duration
        /// SIGTERM-to-SIGKILL grace at an attempt's teardown.
        public var grace: Duration
        /// Further attempts after retry-safe failures.
        public var maxRetries: Int
        /// First retry delay, doubled each time.
        public var backoffBase: Duration
        /// Attempts running at once.
        public var concurrency: Int
        /// Attempts running at once for one GitHub installation.
        public var perInstallationConcurrency: Int
        /// On SIGTERM: how long running attempts may go on before they are torn down.
        public var shutdownGrace: Duration
        /// Times a task may be interrupted by the daemon dying before it fails.
        public var maxCrashInterruptions: Int

        public init(runtime: [String], timeout: Duration = .seconds(1800), grace: Duration = .seconds(10),
                    maxRetries: Int = 2, backoffBase: Duration = .seconds(2), concurrency: Int = 2,
                    perInstallationConcurrency: Int = 1, shutdownGrace: Duration = .seconds(30),
                    maxCrashInterruptions: Int = 3) {
            self.runtime = runtime; self.timeout = timeout; self.grace = grace; self.maxRetries = maxRetries
            self.backoffBase = backoffBase; self.concurrency = concurrency
            self.perInstallationConcurrency = perInstallationConcurrency; self.shutdownGrace = shutdownGrace
            self.maxCrashInterruptions = maxCrashInterruptions
        }
    }

    public struct SandboxSettings: Sendable, Equatable {
        /// Seccomp profile: "default", a name from profiles/, or a path.
        public var profile: String
        public var network: NetworkMode
        /// `proxy` mode: what every attempt may reach (`sandbox.egress`, with the default
        /// hosts already in `allowHosts` unless `default_hosts` is false). The configured
        /// GitHub's hosts and a familiar's own `egress` are added per attempt
        /// (`DaemonConfig.egressPolicy(familiar:)`).
        public var egress: EgressPolicy
        public var workspaceSize: UInt64
        /// The attempt's writable /run/coven/out (as root a tmpfs of this size).
        public var outSize: UInt64 = AttemptConfig.defaultOutSize
        public var memory: UInt64
        public var pids: Int
        public var cpus: Double?
        public var binds: [Bind]
        /// Host uids handed to sandboxes (root only); nil = the built-in default range.
        public var uidRange: Range<UInt32>?

        /// `proxy` by default: the pre-clone and the runtime's pushes go through a
        /// per-attempt egress proxy that allows only `egress` (GitHub and the model
        /// providers unless configured otherwise).
        public init(profile: String = "default", network: NetworkMode = .proxy, egress: EgressPolicy = .daemonDefault,
                    workspaceSize: UInt64 = 4 << 30, memory: UInt64 = 4 << 30, pids: Int = 1024, cpus: Double? = nil,
                    binds: [Bind] = [], uidRange: Range<UInt32>? = nil) {
            self.profile = profile; self.network = network; self.egress = egress; self.workspaceSize = workspaceSize
            self.memory = memory; self.pids = pids; self.cpus = cpus; self.binds = binds; self.uidRange = uidRange
        }
    }

    public struct Dashboard: Sendable, Equatable {
        /// nil: on exactly when listening on loopback (`isEnabled(listen:)`).
        public var enabled: Bool?
        /// How long a login lasts.
        public var sessionLifetime: Duration
        public init(enabled: Bool? = nil, sessionLifetime: Duration = .seconds(8 * 3600)) {
            self.enabled = enabled
            self.sessionLifetime = sessionLifetime
        }

        /// On by default only on loopback: elsewhere serving pages is the operator's choice.
        public func isEnabled(listen: ListenAddress) -> Bool {
            enabled ?? ListenAddress.isLoopback(listen.host)
        }
    }

    public struct API: Sendable, Equatable {
        /// The file holding the task API's bearer token; nil = the task API is disabled.
        public var tokenPath: String?
        public init(tokenPath: String? = nil) { self.tokenPath = tokenPath }
    }

    // MARK: - Derived settings

    /// The task store's database file.
    public var databasePath: String { (stateDirectory as NSString).appendingPathComponent(TaskStore.fileName) }

    /// The supervisor's scheduling and retry settings.
    public var supervisorSettings: SupervisorSettings {
        SupervisorSettings(globalConcurrency: worker.concurrency,
                           perInstallationConcurrency: worker.perInstallationConcurrency,
                           retry: RetryPolicy(maxRetries: worker.maxRetries, baseDelay: worker.backoffBase.seconds,
                                              maxDelay: max(60, worker.backoffBase.seconds * 4)),
                           maxCrashInterruptions: worker.maxCrashInterruptions,
                           shutdownGrace: worker.shutdownGrace,
                           // A fleet is woken by its database's notifications: the poll is a fallback.
                           pollInterval: store.isShared ? .seconds(5) : .milliseconds(250))
    }

    /// How attempts run, with per-attempt directories under `attemptsDirectory`.
    public func attemptConfig(attemptsDirectory: String) -> AttemptConfig {
        var c = AttemptConfig(runtime: worker.runtime, attemptsDirectory: attemptsDirectory)
        c.timeout = worker.timeout
        c.grace = worker.grace
        c.network = sandbox.network
        c.egress = egressPolicy()
        for f in familiars where f.egress != nil { c.egressForFamiliar[f.id] = egressPolicy(familiar: f.id) }
        c.seccompProfile = sandbox.profile
        c.limits = ResourceLimits(memoryBytes: sandbox.memory, pids: sandbox.pids, cpus: sandbox.cpus)
        c.workspaceSize = sandbox.workspaceSize
        c.outSize = sandbox.outSize
        c.binds = sandbox.binds
        return c
    }

    // MARK: - Egress

    /// What attempts must reach of the configured GitHub, when `sandbox.egress` does
    /// not cover it already: the host of `github.api_base_url` and its git host (for
    /// `api.NAME`, `NAME`: `api.github.com` → `github.com`, `api.octo.ghe.com` →
    /// `octo.ghe.com`; GitHub Enterprise Server's `HOST/api/v3` → `HOST`), and the
    /// URL's port (443, 80 for `http`, or the one it names). Empty without a github
    /// section.
    public var gitHubEgress: EgressAdditions {
        guard let url = github?.apiBaseURL, var host = url.host?.lowercased(), !host.isEmpty else { return EgressAdditions() }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hosts = [host]
        if host.hasPrefix("api."), HostPattern.normalizedName(String(host.dropFirst(4)))?.contains(".") == true {
            hosts.append(String(host.dropFirst(4)))
        }
        let patterns = sandbox.egress.allowHosts.compactMap(HostPattern.init)
        var out = EgressAdditions()
        out.allowHosts = hosts.filter { h in HostPattern(h) != nil && !patterns.contains { $0.matches(h) } }
        let port = url.port ?? (url.scheme?.lowercased() == "http" ? 80 : 443)
        if !sandbox.egress.allowPorts.contains(port) { out.allowPorts = [port] }
        return out
    }

    /// The policy of an attempt in `proxy` mode: `sandbox.egress`, plus `gitHubEgress`,
    /// plus the own `egress` of the familiar with id `familiar` (nil, or a familiar
    /// without one: the sandbox-level policy).
    public func egressPolicy(familiar: String? = nil) -> EgressPolicy {
        var policy = gitHubEgress.applied(to: sandbox.egress)
        if let familiar, let extra = familiars.first(where: { $0.id == familiar })?.egress {
            policy = extra.applied(to: policy)
        }
        return policy
    }
}

/// What is added to the sandbox-level egress policy: a familiar's `egress` object, or
/// the configured GitHub's hosts. Lists are appended (an addition never removes
/// anything); a `static_hosts` entry replaces the one for the same name; `max_bytes`
/// replaces the cap.
public struct EgressAdditions: Sendable, Equatable {
    public var allowHosts: [String]
    public var allowPorts: [Int]
    public var allowPrivate: [String]
    public var staticHosts: [String: String]
    public var maxBytes: UInt64?

    public init(allowHosts: [String] = [], allowPorts: [Int] = [], allowPrivate: [String] = [],
                staticHosts: [String: String] = [:], maxBytes: UInt64? = nil) {
        self.allowHosts = allowHosts; self.allowPorts = allowPorts; self.allowPrivate = allowPrivate
        self.staticHosts = staticHosts; self.maxBytes = maxBytes
    }

    public var isEmpty: Bool { self == EgressAdditions() }

    public func applied(to policy: EgressPolicy) -> EgressPolicy {
        var p = policy
        for h in allowHosts where !p.allowHosts.contains(h) { p.allowHosts.append(h) }
        for port in allowPorts where !p.allowPorts.contains(port) { p.allowPorts.append(port) }
        for a in allowPrivate where !p.allowPrivateDestinations.contains(a) { p.allowPrivateDestinations.append(a) }
        p.staticHosts.merge(staticHosts) { _, new in new }
        if let maxBytes { p.maxBytes = maxBytes }
        return p
    }
}
