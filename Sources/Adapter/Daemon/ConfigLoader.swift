import Foundation
import HTTP
import Sandbox
import Supervisor

/// A configuration the daemon refuses, naming the key path: `config: worker.timeout:
/// "abc" is not a duration (e.g. 30s, 5m)`. Never quotes the value of a secret-like key.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path ("worker.timeout", "sandbox.binds[1].source"); "" for the whole file.
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) { self.path = path; self.message = message }

    public var description: String { path.isEmpty ? "config: \(message)" : "config: \(path): \(message)" }
}

/// Reads and validates the JSON configuration (docs/configuration.md).
///
/// Rules: unknown keys are errors (a typo never silently falls back to a default);
/// every value is type- and range-checked; sizes accept "512M"/"2G", durations
/// "30s"/"5m"; relative paths are resolved against the config file's directory; a key
/// that names a secret (`webhook_secret`, `private_key`, `token`, …) may not hold a
/// value, and no string value may look like a private key or a GitHub token: secrets
/// live in files (or, for the webhook secret, an environment variable).
public enum ConfigLoader {
    /// Loads `path`.
    public static func load(path: String) throws(ConfigError) -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("", "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let absolute = absolutePath(path, base: FileManager.default.currentDirectoryPath)
        return try parse(data, baseDirectory: (absolute as NSString).deletingLastPathComponent)
    }

    /// Parses a configuration; relative paths are resolved against `baseDirectory`.
    public static func parse(_ data: Data, baseDirectory: String) throws(ConfigError) -> DaemonConfig {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch { throw ConfigError("", "not valid JSON: \(error)") }
        try refuseInlineSecrets(root, path: "")
        let top = try Obj(root, path: "")
        try top.allow(["listen", "state_dir", "github", "worker", "sandbox", "familiars", "installations", "api", "http",
                       "dashboard", "store"])
        let base = baseDirectory

        var listen = DaemonConfig.ListenAddress(host: "127.0.0.1", port: 8787)
        if let text = try top.string("listen") {
            guard let l = DaemonConfig.ListenAddress.parse(text) else {
                throw ConfigError(top.key("listen"), "\(quote(text)) is not an address (e.g. \"127.0.0.1:8787\")")
            }
            listen = l
        }
        guard let stateText = try top.string("state_dir") else { throw ConfigError("state_dir", "is required") }
        guard !stateText.isEmpty else { throw ConfigError("state_dir", "must not be empty") }
        let stateDir = absolutePath(stateText, base: base)

        let github = try top.object("github").map { g throws(ConfigError) in try parseGitHub(g, base: base) }
        guard let workerObj = try top.object("worker") else { throw ConfigError("worker", "is required (at least worker.runtime)") }
        let worker = try parseWorker(workerObj)
        let sandbox = try top.object("sandbox").map { s throws(ConfigError) in try parseSandbox(s, base: base) }
            ?? DaemonConfig.SandboxSettings()
        let familiars = try parseFamiliars(top)
        var api = DaemonConfig.API()
        if let a = try top.object("api") {
            try a.allow(["token_path"])
            api.tokenPath = try a.path("token_path", base: base)
        }
        let http = try top.object("http").map { h throws(ConfigError) in try parseHTTP(h) } ?? HTTPServerLimits()
        var config = DaemonConfig(listen: listen, stateDirectory: stateDir, github: github, worker: worker,
                                  sandbox: sandbox, familiars: familiars, api: api, http: http)
        config.installations = try parseInstallations(top, familiars: familiars)
        config.store = try parseStore(top, base: base)
        if let d = try top.object("dashboard") {
            try d.allow(["enabled", "session_lifetime"])
            config.dashboard.enabled = try d.bool("enabled")
            if let l = try d.duration("session_lifetime", positive: true) { config.dashboard.sessionLifetime = l }
        }
        // Every policy an attempt can get compiles (each entry was checked on its own already).
        for (i, f) in familiars.enumerated() {
            do { _ = try config.egressPolicy(familiar: f.id).compiled() } catch {
                throw ConfigError(f.egress != nil ? "familiars[\(i)].egress" : "sandbox.egress", "\(error)")
            }
        }
        do { _ = try config.egressPolicy().compiled() } catch { throw ConfigError("sandbox.egress", "\(error)") }
        return config
    }

    // MARK: - Sections

    private static func parseGitHub(_ g: Obj, base: String) throws(ConfigError) -> DaemonConfig.GitHub {
        try g.allow(["app_id", "private_key_path", "webhook_secret_path", "webhook_secret_env", "api_base_url"])
        let appID: String
        switch g.fields["app_id"] {
        case .string(let s)?:
            guard !s.trimmingCharacters(in: .whitespaces).isEmpty else { throw ConfigError(g.key("app_id"), "must not be empty") }
            appID = s.trimmingCharacters(in: .whitespaces)
        case .number(let n)? where n >= 1 && n == n.rounded() && n < 1e15:
            appID = String(Int64(n))
        case nil:
            throw ConfigError(g.key("app_id"), "is required (the GitHub App's id)")
        case let v?:
            throw ConfigError(g.key("app_id"), "must be the App id (a number or a string), not \(v.typeName)")
        }
        guard let key = try g.path("private_key_path", base: base) else {
            throw ConfigError(g.key("private_key_path"), "is required (the App's PEM private key file)")
        }
        let secretPath = try g.path("webhook_secret_path", base: base)
        let secretEnv = try g.string("webhook_secret_env")
        let secret: DaemonConfig.SecretSource
        switch (secretPath, secretEnv) {
        case (let p?, nil): secret = .file(p)
        case (nil, let e?):
            guard !e.isEmpty, e.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !e.first!.isNumber else {
                throw ConfigError(g.key("webhook_secret_env"), "\(quote(e)) is not an environment variable name")
            }
            secret = .environment(e)
        case (nil, nil):
            throw ConfigError(g.key("webhook_secret_path"), "is required (or webhook_secret_env): the webhook secret")
        case (_?, _?):
            throw ConfigError(g.key("webhook_secret_env"), "give either webhook_secret_path or webhook_secret_env, not both")
        }
        var apiBase = DaemonConfig.GitHub.defaultAPIBaseURL
        if let text = try g.string("api_base_url") {
            guard let u = URL(string: text), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  u.host?.isEmpty == false, u.user == nil, u.password == nil, u.query == nil else {
                throw ConfigError(g.key("api_base_url"), "\(quote(text)) is not an http(s) URL without credentials")
            }
            apiBase = u
        }
        return DaemonConfig.GitHub(appID: appID, privateKeyPath: key, webhookSecret: secret, apiBaseURL: apiBase)
    }

    /// `http`: the listener's limits (HTTPServerLimits documents what each one answers).
    private static func parseHTTP(_ h: Obj) throws(ConfigError) -> HTTPServerLimits {
        try h.allow(["max_connections", "max_connections_per_client", "max_body_size", "request_memory_budget",
                     "header_timeout", "body_timeout", "idle_timeout"])
        var limits = HTTPServerLimits()
        if let n = try h.integer("max_connections", min: 1, max: 65536) { limits.maxConnections = n }
        if let n = try h.integer("max_connections_per_client", min: 1, max: limits.maxConnections) {
            limits.maxConnectionsPerClient = n
        } else {
            limits.maxConnectionsPerClient = min(limits.maxConnectionsPerClient, limits.maxConnections)
        }
        if let v = try h.size("max_body_size") {
            guard v <= 1 << 30 else { throw ConfigError(h.key("max_body_size"), "must be at most 1G") }
            limits.maxBodySize = Int(v)
        }
        if let v = try h.size("request_memory_budget") {
            guard v <= 1 << 40 else { throw ConfigError(h.key("request_memory_budget"), "must be at most 1T") }
            limits.requestMemoryBudget = Int(v)
        }
        // A budget below the largest request would refuse every such request, however idle the server.
        guard limits.requestMemoryBudget >= limits.maxBodySize + HTTPServer.requestAllowance else {
            throw ConfigError(h.key("request_memory_budget"),
                              "must be at least max_body_size plus 64K (\(limits.maxBodySize + HTTPServer.requestAllowance) bytes)")
        }
        if let d = try h.duration("header_timeout", positive: true) { limits.headerReadTimeout = d.seconds }
        if let d = try h.duration("body_timeout", positive: true) { limits.bodyReadTimeout = d.seconds }
        if let d = try h.duration("idle_timeout", positive: true) { limits.idleTimeout = d.seconds }
        return limits
    }

    private static func parseWorker(_ w: Obj) throws(ConfigError) -> DaemonConfig.Worker {
        try w.allow(["runtime", "timeout", "grace", "max_retries", "backoff_base", "concurrency",
                     "per_installation_concurrency", "shutdown_grace", "max_crash_interruptions"])
        guard let runtime = try w.stringArray("runtime") else {
            throw ConfigError(w.key("runtime"), "is required: the runtime's command line as an array, e.g. [\"/usr/local/bin/coven-code\"]")
        }
        guard let first = runtime.first, !first.isEmpty else {
            throw ConfigError(w.key("runtime"), "must name a command (an empty array runs nothing)")
        }
        var worker = DaemonConfig.Worker(runtime: runtime)
        if let d = try w.duration("timeout", positive: true) { worker.timeout = d }
        if let d = try w.duration("grace") { worker.grace = d }
        if let n = try w.integer("max_retries", min: 0, max: 100) { worker.maxRetries = n }
        if let d = try w.duration("backoff_base") { worker.backoffBase = d }
        if let n = try w.integer("concurrency", min: 1, max: 4096) { worker.concurrency = n }
        if let n = try w.integer("per_installation_concurrency", min: 1, max: 4096) { worker.perInstallationConcurrency = n }
        if let d = try w.duration("shutdown_grace") { worker.shutdownGrace = d }
        if let n = try w.integer("max_crash_interruptions", min: 1, max: 100) { worker.maxCrashInterruptions = n }
        return worker
    }

    private static func parseSandbox(_ s: Obj, base: String) throws(ConfigError) -> DaemonConfig.SandboxSettings {
        try s.allow(["profile", "network", "egress", "workspace_size", "out_size", "memory", "pids", "cpus", "binds", "uid_range"])
        var out = DaemonConfig.SandboxSettings()
        if let p = try s.string("profile") {
            guard !p.isEmpty else { throw ConfigError(s.key("profile"), "must not be empty (\"default\" is the built-in profile)") }
            out.profile = p.contains("/") ? absolutePath(p, base: base) : p
        }
        if let n = try s.string("network") { out.network = try parseNetwork(n, key: s.key("network")) }
        if let e = try s.object("egress") { out.egress = try parseEgress(e) }
        if let v = try s.size("workspace_size") { out.workspaceSize = v }
        if let v = try s.size("out_size") { out.outSize = v }
        if let v = try s.size("memory") { out.memory = v }
        if let n = try s.integer("pids", min: 1, max: 4_194_304) { out.pids = n }
        switch s.fields["cpus"] {
        case nil, .null?: break
        case .number(let n)? where n > 0 && n <= 4096: out.cpus = n
        case let v?: throw ConfigError(s.key("cpus"), "must be a positive number of CPUs (e.g. 1.5), not \(describe(v))")
        }
        if let list = try s.array("binds") {
            for (i, item) in list.enumerated() {
                let b = try Obj(item, path: s.key("binds") + "[\(i)]")
                try b.allow(["source", "destination", "writable"])
                guard let src = try b.path("source", base: base) else { throw ConfigError(b.key("source"), "is required") }
                let dst = try b.string("destination") ?? src
                guard dst.hasPrefix("/") else { throw ConfigError(b.key("destination"), "\(quote(dst)) must be an absolute path inside the sandbox") }
                guard !["/", "/proc", "/dev", "/workspace", "/run/coven"].contains((dst as NSString).standardizingPath) else {
                    throw ConfigError(b.key("destination"), "\(quote(dst)) is reserved by the sandbox")
                }
                out.binds.append(Bind(source: src, destination: dst, writable: try b.bool("writable") ?? false))
            }
        }
        if let r = try s.object("uid_range") {
            try r.allow(["start", "count"])
            // Not below 65536: those are the host's own users, whose processes a sandbox could signal.
            guard let start = try r.integer("start", min: Int(HostIdentityPool.lowestAllowedID), max: Int(UInt32.max) - 1) else {
                throw ConfigError(r.key("start"), "is required")
            }
            guard let count = try r.integer("count", min: 1, max: 16_777_216) else { throw ConfigError(r.key("count"), "is required") }
            guard start + count <= Int(UInt32.max) else { throw ConfigError(r.key("count"), "start + count goes past the largest uid") }
            out.uidRange = UInt32(start)..<UInt32(start + count)
        }
        return out
    }

    /// The network modes the sandbox knows (extend here when a mode needs settings).
    static func parseNetwork(_ text: String, key: String) throws(ConfigError) -> NetworkMode {
        guard let mode = NetworkMode(rawValue: text) else {
            throw ConfigError(key, "\(quote(text)) is not a network mode (expected \(NetworkMode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")))")
        }
        return mode
    }

    /// `sandbox.egress`: the sandbox-level policy, `default_hosts` applied.
    private static func parseEgress(_ e: Obj) throws(ConfigError) -> EgressPolicy {
        try e.allow(["default_hosts", "allow_hosts", "allow_ports", "allow_private", "static_hosts", "max_bytes",
                     "max_connections", "header_timeout", "connect_timeout", "idle_timeout", "max_log_entries"])
        let listed = try parseEgressAdditions(e)
        let defaultHosts = try e.bool("default_hosts") ?? true
        var policy = EgressPolicy(allowHosts: defaultHosts ? EgressPolicy.defaultAllowlist : [])
        policy = EgressAdditions(allowHosts: listed.allowHosts, allowPrivate: listed.allowPrivate,
                                 staticHosts: listed.staticHosts, maxBytes: listed.maxBytes).applied(to: policy)
        if e.fields["allow_ports"] != nil && e.fields["allow_ports"] != .null { policy.allowPorts = listed.allowPorts }
        if let n = try e.integer("max_connections", min: 1, max: 65536) { policy.maxConnections = n }
        if let d = try e.duration("header_timeout", positive: true) { policy.headerTimeout = d.seconds }
        if let d = try e.duration("connect_timeout", positive: true) { policy.connectTimeout = d.seconds }
        if let d = try e.duration("idle_timeout", positive: true) { policy.idleTimeout = d.seconds }
        if let n = try e.integer("max_log_entries", min: 0, max: 1_000_000) { policy.maxLogEntries = n }
        do { _ = try policy.compiled() } catch { throw ConfigError(e.path, "\(error)") }
        return policy
    }

    /// The list keys an egress object shares with `familiars[].egress`, each entry
    /// checked and named by its key path.
    private static func parseEgressAdditions(_ e: Obj) throws(ConfigError) -> EgressAdditions {
        var out = EgressAdditions()
        for (i, h) in (try e.stringArray("allow_hosts") ?? []).enumerated() {
            guard HostPattern(h) != nil, h == h.trimmingCharacters(in: .whitespaces) else {
                throw ConfigError("\(e.key("allow_hosts"))[\(i)]", "\(quote(h)) is not a host name, *.suffix or IP address (e.g. \"github.com\", \"*.githubusercontent.com\", \"203.0.113.7\")")
            }
            out.allowHosts.append(h)
        }
        if let ports = try e.array("allow_ports") {
            for (i, v) in ports.enumerated() {
                guard case .number(let n) = v, n == n.rounded(), n >= 1, n <= 65535 else {
                    throw ConfigError("\(e.key("allow_ports"))[\(i)]", "must be a port number from 1 to 65535, not \(describe(v))")
                }
                out.allowPorts.append(Int(n))
            }
        }
        for (i, a) in (try e.stringArray("allow_private") ?? []).enumerated() {
            guard CIDR(a) != nil else {
                throw ConfigError("\(e.key("allow_private"))[\(i)]", "\(quote(a)) is not an address or CIDR (e.g. \"10.20.0.5\", \"10.20.0.0/16\", \"fd00::/8\")")
            }
            out.allowPrivate.append(a)
        }
        if let hosts = try e.object("static_hosts") {
            for name in hosts.fields.keys.sorted() {
                guard HostPattern.normalizedName(name) != nil else {
                    throw ConfigError(hosts.key(name), "\(quote(name)) is not a host name")
                }
                guard let addr = try hosts.string(name) else { throw ConfigError(hosts.key(name), "must be an IP address") }
                guard IPAddress(addr) != nil else {
                    throw ConfigError(hosts.key(name), "\(quote(addr)) is not an IP address (e.g. \"10.20.0.5\")")
                }
                out.staticHosts[name] = addr
            }
        }
        out.maxBytes = try e.size("max_bytes")
        return out
    }

    private static func parseFamiliars(_ top: Obj) throws(ConfigError) -> [FamiliarConfig] {
        guard let list = try top.array("familiars") else { return [] }
        var out: [FamiliarConfig] = []
        var ids = Set<String>()
        for (i, item) in list.enumerated() {
            let f = try Obj(item, path: "familiars[\(i)]")
            try f.allow(["id", "display_name", "bot_username", "trigger_labels", "model", "skills", "egress",
                         "contract_version", "review"])
            guard let id = try f.string("id"), !id.isEmpty else { throw ConfigError(f.key("id"), "is required") }
            guard id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw ConfigError(f.key("id"), "\(quote(id)) may hold only letters, digits, '-' and '_'")
            }
            guard ids.insert(id).inserted else { throw ConfigError(f.key("id"), "\(quote(id)) is used by another familiar") }
            guard let bot = try f.string("bot_username"), !GitHubLogin.normalized(bot).isEmpty else {
                throw ConfigError(f.key("bot_username"), "is required (the App's bot login, e.g. \"coven-cody[bot]\")")
            }
            out.append(FamiliarConfig(id: id, displayName: try f.string("display_name") ?? id, botUsername: bot,
                                      triggerLabels: try f.stringArray("trigger_labels") ?? [],
                                      model: try f.string("model"), skills: try f.stringArray("skills") ?? [],
                                      egress: try f.object("egress").map { e throws(ConfigError) in
                                          try e.allow(["allow_hosts", "allow_ports", "allow_private", "static_hosts", "max_bytes"])
                                          return try parseEgressAdditions(e)
                                      },
                                      contractVersion: try f.integer("contract_version", min: 1, max: 2) ?? 1,
                                      review: try f.object("review").map(parseReview) ?? FamiliarReviewPolicy()))
        }
        return out
    }

    /// `familiars[].review`: the policy keys, and `repositories` with the same keys per
    /// `owner/name` (what a repository leaves out, it takes from the familiar's).
    private static func parseReview(_ r: Obj) throws(ConfigError) -> FamiliarReviewPolicy {
        let keys = ["trigger", "label", "request_changes_at", "min_severity"]
        try r.allow(keys + ["repositories"])
        let base = try parseReviewKeys(r, over: ReviewPolicy())
        var repos: [String: ReviewPolicy] = [:]
        if let list = try r.object("repositories") {
            for name in list.keys {
                let parts = name.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }) else {
                    throw ConfigError(list.key(name), "is not a repository (expected \"owner/name\")")
                }
                guard let repo = try list.object(name) else { continue }
                try repo.allow(keys)
                repos[name.lowercased()] = try parseReviewKeys(repo, over: base)
            }
        }
        return FamiliarReviewPolicy(base: base, repositories: repos)
    }

    private static func parseReviewKeys(_ r: Obj, over base: ReviewPolicy) throws(ConfigError) -> ReviewPolicy {
        var p = base
        if let t = try r.string("trigger") {
            guard let trigger = ReviewPolicy.Trigger(rawValue: t) else {
                throw ConfigError(r.key("trigger"), "\(quote(t)) is not one of \"label\", \"always\", \"off\"")
            }
            p.trigger = trigger
        }
        if let l = try r.string("label") {
            guard !l.trimmingCharacters(in: .whitespaces).isEmpty else { throw ConfigError(r.key("label"), "must not be empty") }
            p.label = l
        }
        func severity(_ k: String) throws(ConfigError) -> ReviewReport.Severity? {
            guard let s = try r.string(k) else { return nil }
            guard let v = ReviewReport.Severity(rawValue: s) else {
                throw ConfigError(r.key(k), "\(quote(s)) is not a severity (info, low, medium, high, critical)")
            }
            return v
        }
        if r.has("request_changes_at") {
            p.requestChangesAt = r.isNull("request_changes_at") ? nil : try severity("request_changes_at")
        }
        if let m = try severity("min_severity") { p.minSeverity = m }
        return p
    }

    // MARK: - Secrets

    /// Key names that denote a secret value (compared on the lowercased key).
    static let secretWords = ["secret", "private_key", "privatekey", "token", "password", "passwd", "api_key", "apikey", "credential"]

    /// True for `webhook_secret`, `token`, `private_key`, … but not `…_path` / `…_env`.
    static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        if k.hasSuffix("_path") || k.hasSuffix("_env") || k.hasSuffix("_file") { return false }
        return secretWords.contains { k.contains($0) }
    }

    /// Walks the whole document before anything else, so that an inline secret is
    /// refused with a clear message even where the key would also be unknown.
    static func refuseInlineSecrets(_ v: JSONValue, path: String) throws(ConfigError) {
        switch v {
        case .object(let o):
            for (k, child) in o.sorted(by: { $0.key < $1.key }) {
                let p = path.isEmpty ? k : path + "." + k
                // static_hosts keys are host names ("token.corp.example"), not settings.
                if isSecretKey(k), child != .null, !path.hasSuffix(".static_hosts") {
                    throw ConfigError(p, "secrets are never written in the config file: put it in a file readable only by the daemon and give its path as \(k)_path\(k.lowercased().contains("webhook") ? " (or name an environment variable with \(k)_env)" : "")")
                }
                try refuseInlineSecrets(child, path: p)
            }
        case .array(let a):
            for (i, child) in a.enumerated() { try refuseInlineSecrets(child, path: "\(path)[\(i)]") }
        case .string(let s):
            if s.contains("-----BEGIN") && s.contains("PRIVATE KEY") {
                throw ConfigError(path, "holds a private key: keys are never written in the config file; give the key file's path as github.private_key_path")
            }
            if Redactor.redactShapes(s) != s {
                throw ConfigError(path, "holds something shaped like a GitHub token: secrets are never written in the config file")
            }
        default:
            break
        }
    }

    // MARK: - Helpers

    static func absolutePath(_ p: String, base: String) -> String {
        let joined = p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p)
        return (joined as NSString).standardizingPath
    }

    static func quote(_ s: String) -> String {
        JSONValue.string(s.count > 80 ? String(s.prefix(77)) + "..." : s).description
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .object: return "an object"
        case .array: return "an array"
        default: return v.description
        }
    }

    /// One JSON object being read, with its key path for messages.
    struct Obj {
        let path: String
        let fields: [String: JSONValue]

        init(_ v: JSONValue, path: String) throws(ConfigError) {
            guard case .object(let o) = v else {
                throw ConfigError(path, "must be a JSON object, not \(v.typeName)")
            }
            self.path = path
            self.fields = o
        }

        func key(_ k: String) -> String { path.isEmpty ? k : path + "." + k }

        /// The keys present, sorted.
        var keys: [String] { fields.keys.sorted() }
        func has(_ k: String) -> Bool { fields[k] != nil }
        func isNull(_ k: String) -> Bool { fields[k] == .null }

        /// Refuses keys not in `allowed`, naming the first (sorted) and what is allowed.
        func allow(_ allowed: [String]) throws(ConfigError) {
            for k in fields.keys.sorted() where !allowed.contains(k) {
                throw ConfigError(key(k), "unknown key (expected one of: \(allowed.joined(separator: ", ")))")
            }
        }

        private func value(_ k: String) -> JSONValue? {
            guard let v = fields[k], v != .null else { return nil }
            return v
        }

        func string(_ k: String) throws(ConfigError) -> String? {
            guard let v = value(k) else { return nil }
            guard case .string(let s) = v else { throw ConfigError(key(k), "must be a string, not \(describe(v))") }
            return s
        }

        func bool(_ k: String) throws(ConfigError) -> Bool? {
            guard let v = value(k) else { return nil }
            guard case .bool(let b) = v else { throw ConfigError(key(k), "must be true or false, not \(describe(v))") }
            return b
        }

        func integer(_ k: String, min: Int, max: Int) throws(ConfigError) -> Int? {
            guard let v = value(k) else { return nil }
            guard case .number(let n) = v, n == n.rounded(), n >= Double(min), n <= Double(max) else {
                throw ConfigError(key(k), "must be a whole number from \(min) to \(max), not \(describe(v))")
            }
            return Int(n)
        }

        func object(_ k: String) throws(ConfigError) -> Obj? {
            guard let v = value(k) else { return nil }
            return try Obj(v, path: key(k))
        }

        func array(_ k: String) throws(ConfigError) -> [JSONValue]? {
            guard let v = value(k) else { return nil }
            guard case .array(let a) = v else { throw ConfigError(key(k), "must be an array, not \(describe(v))") }
            return a
        }

        func stringArray(_ k: String) throws(ConfigError) -> [String]? {
            guard let a = try array(k) else { return nil }
            var out: [String] = []
            for (i, item) in a.enumerated() {
                guard case .string(let s) = item else { throw ConfigError("\(key(k))[\(i)]", "must be a string, not \(describe(item))") }
                out.append(s)
            }
            return out
        }

        /// A size as "512M", "2G" (or a number of bytes).
        func size(_ k: String) throws(ConfigError) -> UInt64? {
            guard let v = value(k) else { return nil }
            let text: String
            switch v {
            case .string(let s): text = s
            case .number(let n) where n >= 0 && n == n.rounded(): text = String(Int64(n))
            default: throw ConfigError(key(k), "\(describe(v)) is not a size (e.g. \"512M\", \"2G\")")
            }
            guard let n = Units.parseSize(text), n > 0 else {
                throw ConfigError(key(k), "\(quote(text)) is not a size (e.g. \"512M\", \"2G\")")
            }
            return n
        }

        /// A duration as "30s", "5m", "250ms", "1h".
        func duration(_ k: String, positive: Bool = false) throws(ConfigError) -> Duration? {
            guard let v = value(k) else { return nil }
            guard case .string(let text) = v else {
                throw ConfigError(key(k), "\(describe(v)) is not a duration (e.g. \"30s\", \"5m\")")
            }
            guard let d = Units.parseDuration(text) else {
                throw ConfigError(key(k), "\(quote(text)) is not a duration (e.g. \"30s\", \"5m\")")
            }
            if positive && d <= .zero { throw ConfigError(key(k), "must be longer than zero") }
            return d
        }

        /// An absolute path (relative ones against `base`).
        func path(_ k: String, base: String) throws(ConfigError) -> String? {
            guard let s = try string(k) else { return nil }
            guard !s.isEmpty else { throw ConfigError(key(k), "must not be empty") }
            return ConfigLoader.absolutePath(s, base: base)
        }
    }
}
