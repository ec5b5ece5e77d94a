import Foundation
import CSandbox
import Sandbox
import Supervisor

/// `coven-supervisor doctor`: what this host and configuration can and cannot do.
/// Each check is one line, `ok`, `warn` (works, degraded) or `FAIL` (something will not
/// work, said what). Never reads a secret out loud: files are opened and parsed, their
/// contents never printed.
public enum Doctor {
    public enum Level: String, Sendable { case ok = "ok", warn = "warn", fail = "FAIL" }

    public struct Check: Sendable {
        public var level: Level
        public var name: String
        public var detail: String
        /// Extra lines shown under the check (e.g. cgroup notes).
        public var notes: [String]
        public init(_ level: Level, _ name: String, _ detail: String, notes: [String] = []) {
            self.level = level; self.name = name; self.detail = detail; self.notes = notes
        }
        public var line: String {
            ([level.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + " " + name + ": " + detail]
                + notes.map { "      " + $0 }).joined(separator: "\n")
        }
    }

    // MARK: - Host

    /// Kernel features the sandbox needs, with the seccomp profile `profile`.
    public static func hostChecks(profile: String = "default", needsCPU: Bool = false) -> [Check] {
        var out: [Check] = []

        // User namespaces (and the rest of the launch path): launch a trivial sandbox.
        var spec = SandboxSpec(command: ["/bin/true"], seccompProfile: profile,
                               limits: ResourceLimits(memoryBytes: 64 << 20, pids: 16), workspaceSize: 1 << 20,
                               tmpSize: 1 << 20, timeout: .seconds(20), grace: .seconds(1))
        spec.stdout = .discard
        spec.stderr = .capture(limit: 4096)
        let started = ContinuousClock.now
        let result = Sandbox.run(spec)
        Sandbox.finishCleanup()
        let ms = Int(((ContinuousClock.now - started).seconds * 1000).rounded())
        switch result.report.exitClass {
        case .exited(0):
            out.append(Check(.ok, "user namespaces", "launched /bin/true in a sandbox (user, mount, pid, net, ipc, uts, cgroup namespaces) in \(ms) ms"))
        case .setupFailed(let stage, let e):
            var hint: [String] = []
            if let v = try? String(contentsOfFile: "/proc/sys/user/max_user_namespaces", encoding: .utf8) {
                hint.append("/proc/sys/user/max_user_namespaces = \(v.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            if let v = try? String(contentsOfFile: "/proc/sys/kernel/unprivileged_userns_clone", encoding: .utf8) {
                hint.append("/proc/sys/kernel/unprivileged_userns_clone = \(v.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            out.append(Check(.fail, "user namespaces",
                             "a sandbox could not be set up at stage '\(stage)'\(e != 0 ? " (\(String(cString: strerror(e))))" : ""): no attempt can run",
                             notes: hint))
        default:
            out.append(Check(.fail, "user namespaces",
                             "a sandbox running /bin/true ended \(result.report.exitClass.name) (status \(result.report.shellStatus)): attempts will not run reliably"))
        }

        // Seccomp: the kernel has it, and the profile compiles.
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Seccomp:") }) {
            do {
                let program = try SeccompProfile.load(nameOrPath: profile).compile()
                out.append(Check(.ok, "seccomp", "kernel supports it (\(line.replacingOccurrences(of: "\t", with: " "))); profile '\(profile)' compiles to \(program.filter.count / 8) BPF instructions"))
            } catch {
                out.append(Check(.fail, "seccomp", "profile '\(profile)' does not compile: \(error): no attempt can start"))
            }
        } else {
            out.append(Check(.fail, "seccomp", "/proc/self/status has no Seccomp line (kernel without CONFIG_SECCOMP): sandboxes cannot filter system calls"))
        }

        // Cgroups: limits.
        let cg = Cgroups.detect()
        switch cg.version {
        case .none:
            out.append(Check(.fail, "cgroups", "no usable cgroup hierarchy: memory, pids and cpu limits cannot be enforced", notes: cg.notes))
        default:
            let controllers = [("memory", cg.memory), ("pids", cg.pids), ("cpu", cg.cpu)].filter(\.1).map(\.0)
            let level: Level = (!cg.memory || !cg.pids || (needsCPU && !cg.cpu)) ? .fail : .ok
            var detail = "\(cg.version.rawValue) with \(controllers.joined(separator: ", "))"
            if !cg.memory || !cg.pids { detail += ": memory and pids limits are needed for every sandbox" }
            else if needsCPU && !cg.cpu { detail += ": sandbox.cpus is set but the cpu controller is not available" }
            out.append(Check(level, "cgroups", detail, notes: cg.notes))
        }

        // pidfd: exit detection without polling.
        let fd = cs_pidfd_open(getpid())
        if fd >= 0 {
            close(fd)
            out.append(Check(.ok, "pidfd", "pidfd_open works: sandbox exits are noticed at once"))
        } else {
            out.append(Check(.warn, "pidfd", "pidfd_open failed (\(String(cString: strerror(errno)))): sandbox exits are noticed by polling every 50 ms"))
        }

        // git (the pre-clone runs the host's git inside the sandbox) and the askpass helper.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/git") {
            out.append(Check(.ok, "git", "/usr/bin/git is there for the pre-clone inside sandboxes"))
        } else {
            out.append(Check(.fail, "git", "/usr/bin/git is missing: attempts cannot clone (apt-get install git)"))
        }
        let askpass = AttemptConfig.defaultAskpassBinary()
        if FileManager.default.isExecutableFile(atPath: askpass) {
            out.append(Check(.ok, "askpass", "\(askpass) is there"))
        } else {
            out.append(Check(.fail, "askpass", "\(askpass) is missing: attempts cannot authenticate git (build coven-askpass, or set COVEN_ASKPASS)"))
        }
        return out
    }

    // MARK: - Configuration

    /// The configuration file and everything it points at.
    public static func configChecks(path: String) -> (DaemonConfig?, [Check]) {
        let config: DaemonConfig
        do {
            config = try ConfigLoader.load(path: path)
        } catch {
            let what = error.path.isEmpty ? error.message : "\(error.path): \(error.message)"
            return (nil, [Check(.fail, "config", "\(what): serve will refuse to start")])
        }
        var out = [Check(.ok, "config", "\(path) is valid")]
        if let gh = config.github {
            do {
                let key = try RSAPrivateKey(contentsOfFile: gh.privateKeyPath)
                out.append(Check(.ok, "github app key", "\(gh.privateKeyPath) parses (RSA, \(key.bits) bits)"))
            } catch {
                out.append(Check(.fail, "github app key", "\(error): the App cannot authenticate to GitHub"))
            }
            do {
                _ = try Daemon.readWebhookSecret(gh.webhookSecret)
                out.append(Check(.ok, "webhook secret", "present (\(gh.webhookSecret))"))
            } catch {
                out.append(Check(.fail, "webhook secret", "\(error): serve will refuse to start"))
            }
            out.append(Check(.ok, "github api", gh.apiBaseURL.absoluteString + " (not contacted by doctor)"))
        } else {
            out.append(Check(.ok, "github", "not configured: no webhooks; outcomes are logged, not published"))
        }
        out.append(runtimeCheck(config))
        out.append(networkCheck(config))
        out.append(stateDirectoryCheck(config.stateDirectory))
        if let tokenPath = config.api.tokenPath {
            do {
                _ = try TaskAPI.readToken(path: tokenPath)
                out.append(Check(.ok, "task api token", "\(tokenPath) is readable"))
            } catch {
                out.append(Check(.fail, "task api token", "\(error): serve will refuse to start"))
            }
        } else {
            out.append(Check(.ok, "task api", "disabled (no api.token_path): the API answers 403"))
        }
        for b in config.sandbox.binds where !FileManager.default.fileExists(atPath: b.source) {
            out.append(Check(.fail, "bind", "\(b.source) does not exist: every sandbox set-up will fail"))
        }
        return (config, out)
    }

    /// The network mode, and in `proxy` mode the effective allowlist (host names,
    /// ports, addresses: nothing secret).
    static func networkCheck(_ config: DaemonConfig) -> Check {
        switch config.sandbox.network {
        case .none:
            return Check(.warn, "sandbox network", "none: the pre-clone and pushes run inside the sandbox and cannot reach a remote repository")
        case .host:
            return Check(.warn, "sandbox network", "host: attempts share this host's network (its loopback services, private networks, the cloud metadata endpoint) and no egress policy applies; \"proxy\" allows only an allowlist")
        case .proxy:
            let policy = config.egressPolicy()
            var notes = describe(policy)
            let github = config.gitHubEgress
            if !github.isEmpty {
                notes.append("added for github.api_base_url: " + (github.allowHosts + github.allowPorts.map { "port \($0)" }).joined(separator: ", "))
            }
            for f in config.familiars {
                guard let extra = f.egress, !extra.isEmpty else { continue }
                var parts: [String] = []
                if !extra.allowHosts.isEmpty { parts.append("allow_hosts " + extra.allowHosts.joined(separator: ", ")) }
                if !extra.allowPorts.isEmpty { parts.append("allow_ports " + extra.allowPorts.map(String.init).joined(separator: ", ")) }
                if !extra.allowPrivate.isEmpty { parts.append("allow_private " + extra.allowPrivate.joined(separator: ", ")) }
                if !extra.staticHosts.isEmpty {
                    parts.append("static_hosts " + extra.staticHosts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
                }
                if let cap = extra.maxBytes { parts.append("max_bytes \(cap)") }
                notes.append("familiar \(f.id) adds: " + parts.joined(separator: "; "))
            }
            if policy.allowHosts.isEmpty || policy.allowPorts.isEmpty {
                return Check(.warn, "sandbox network", "proxy with nothing allowed: attempts cannot clone or push (list hosts in sandbox.egress.allow_hosts)", notes: notes)
            }
            let metadata = IPAddress("169.254.169.254")!
            if let wide = policy.allowPrivateDestinations.first(where: { CIDR($0)?.contains(metadata) == true }) {
                return Check(.warn, "sandbox network", "proxy, but allow_private \(wide) covers the cloud metadata address 169.254.169.254", notes: notes)
            }
            return Check(.ok, "sandbox network", "proxy: attempts reach only this allowlist, through a per-attempt egress proxy", notes: notes)
        }
    }

    /// One line per part of an egress policy.
    static func describe(_ p: EgressPolicy) -> [String] {
        var lines = ["allow_hosts: " + (p.allowHosts.isEmpty ? "(none)" : p.allowHosts.joined(separator: ", ")),
                     "allow_ports: " + (p.allowPorts.isEmpty ? "(none)" : p.allowPorts.map(String.init).joined(separator: ", "))]
        if !p.allowPrivateDestinations.isEmpty { lines.append("allow_private: " + p.allowPrivateDestinations.joined(separator: ", ")) }
        if !p.staticHosts.isEmpty {
            lines.append("static_hosts: " + p.staticHosts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        if let cap = p.maxBytes { lines.append("max_bytes: \(cap) per attempt") }
        return lines
    }

    /// The runtime as the sandbox will see it.
    static func runtimeCheck(_ config: DaemonConfig) -> Check {
        guard let argv0 = config.worker.runtime.first else { return Check(.fail, "runtime", "worker.runtime is empty") }
        let host = HostPaths.hostPath(ofSandboxCommand: argv0, binds: config.sandbox.binds)
            ?? (argv0.hasPrefix("/") ? argv0 : nil)   // serve binds an absolute runtime of its own accord
        guard let host else {
            return Check(.fail, "runtime", "'\(argv0)' is not on the sandbox's PATH (/usr/local/bin:/usr/bin:/bin): every attempt will fail")
        }
        guard FileManager.default.isExecutableFile(atPath: host) else {
            return Check(.fail, "runtime", "\(host) (\(argv0) in the sandbox) is missing or not executable: every attempt will fail")
        }
        if geteuid() == 0, !HostPaths.traversableByOthers((host as NSString).deletingLastPathComponent) {
            return Check(.warn, "runtime", "\(host) is found, but a parent directory lacks o+x: serve copies it where sandboxes can reach it")
        }
        return Check(.ok, "runtime", "\(argv0) found\(host != argv0 ? " (host: \(host))" : "")")
    }

    static func stateDirectoryCheck(_ dir: String) -> Check {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { return Check(.fail, "state dir", "\(dir) is not a directory") }
            guard access(dir, W_OK) == 0 else { return Check(.fail, "state dir", "\(dir) is not writable: the store cannot open") }
            if geteuid() == 0, !HostPaths.traversableByOthers(dir) {
                return Check(.warn, "state dir", "\(dir) is writable, but sandbox uids cannot traverse it: attempts go under /run/coven-supervisor")
            }
            return Check(.ok, "state dir", "\(dir) is writable")
        }
        var parent = (dir as NSString).deletingLastPathComponent
        while !FileManager.default.fileExists(atPath: parent) && parent != "/" { parent = (parent as NSString).deletingLastPathComponent }
        guard access(parent, W_OK) == 0 else { return Check(.fail, "state dir", "\(dir) is missing and \(parent) is not writable") }
        return Check(.ok, "state dir", "\(dir) will be created")
    }
}
