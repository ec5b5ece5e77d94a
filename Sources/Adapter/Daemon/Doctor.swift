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

        // Cgroups first: on v2 this prepares the place sandboxes go, as serve would.
        let cg = Cgroups.prepare()
        out.append(cgroupCheck(cg, needsCPU: needsCPU))

        // A trial sandbox with limits, in the layout this process runs in: the whole launch path.
        out.append(trialSandboxCheck(profile: profile, support: cg))

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
        let launcher = Sandbox.defaultLauncherProcessPath()
        if FileManager.default.isExecutableFile(atPath: launcher) {
            out.append(Check(.ok, "launcher process", "\(launcher) is there: sandboxes are cloned from its small address space"))
        } else {
            out.append(Check(.warn, "launcher process", "\(launcher) is missing: serve clones sandboxes from itself "
                             + "(slower launches, same isolation; install coven-sandbox-zygote beside the daemon, or set COVEN_SANDBOX_ZYGOTE)"))
        }
        return out
    }

    /// What the cgroup hierarchy offers here, and where sandboxes go.
    static func cgroupCheck(_ cg: CgroupSupport, needsCPU: Bool) -> Check {
        let rootless = geteuid() != 0
        switch cg.version {
        case .none:
            let detail = "no usable cgroup hierarchy: memory, pids and cpu limits cannot be enforced"
                + (cg.fix.map { "; fix: \($0)" } ?? "")
            return Check(rootless ? .warn : .fail, "cgroups", detail + (rootless ? " (sandboxes run without them, and say so)" : ""),
                         notes: cg.notes)
        default:
            let controllers = [("memory", cg.memory), ("pids", cg.pids), ("cpu", cg.cpu)].filter(\.1).map(\.0)
            var level: Level = .ok
            var detail = "\(cg.version.rawValue) with \(controllers.isEmpty ? "no controllers" : controllers.joined(separator: ", "))"
            if let where_ = cg.placement { detail += "; \(where_)" }
            if !cg.memory || !cg.pids {
                level = rootless ? .warn : .fail
                detail += rootless ? ": sandboxes run without the missing limits, and say so" : ": memory and pids limits are needed for every sandbox"
                if let fix = cg.fix { detail += "; fix: \(fix)" }
            } else if needsCPU && !cg.cpu {
                level = .fail
                detail += ": sandbox.cpus is set but the cpu controller is not available"
            }
            return Check(level, "cgroups", detail, notes: cg.notes)
        }
    }

    /// Launches /bin/true with memory, pids (and cpu, when there) limits, and names the real
    /// stage when that fails.
    static func trialSandboxCheck(profile: String, support cg: CgroupSupport) -> Check {
        var limits = ResourceLimits(memoryBytes: 64 << 20, pids: 16)
        if cg.cpu { limits.cpus = 0.5 }
        var spec = SandboxSpec(command: ["/bin/true"], seccompProfile: profile, limits: limits, workspaceSize: 1 << 20,
                               tmpSize: 1 << 20, timeout: .seconds(20), grace: .seconds(1))
        spec.stdout = .discard
        spec.stderr = .capture(limit: 4096)
        let started = ContinuousClock.now
        let result = Sandbox.run(spec)
        Sandbox.finishCleanup()
        let ms = Int(((ContinuousClock.now - started).seconds * 1000).rounded())
        let limitNames = limits.requested.map(\.rawValue).joined(separator: ", ")
        switch result.report.exitClass {
        case .exited(0):
            let unenforced = result.report.unenforcedLimits
            if !unenforced.isEmpty {
                return Check(.warn, "sandbox", "launched /bin/true in \(ms) ms, but without the "
                             + unenforced.map(\.limit.rawValue).joined(separator: ", ") + " limit\(unenforced.count == 1 ? "" : "s")",
                             notes: unenforced.map { "\($0.limit.rawValue) not enforced: \($0.reason)" } + (cg.fix.map { ["fix: \($0)"] } ?? []))
            }
            return Check(.ok, "sandbox", "launched /bin/true with \(limitNames) limits in \(ms) ms "
                         + "(user, mount, pid, net, ipc, uts, cgroup namespaces)")
        case .setupFailed(let stage, let e, let detail):
            return setupFailureCheck(stage: stage, errno: e, detail: detail, hints: result.report.warnings, support: cg)
        default:
            return Check(.fail, "sandbox", "a sandbox running /bin/true ended \(result.report.exitClass.name) "
                         + "(status \(result.report.shellStatus)): attempts will not run reliably")
        }
    }

    /// A failed trial launch, named by the stage that failed and with the fix for it.
    static func setupFailureCheck(stage: SetupStage, errno e: Int32, detail: String, hints: [String],
                                  support cg: CgroupSupport) -> Check {
        let what = "a sandbox could not be set up: \(detail): no attempt can run"
        switch stage {
        case .cgroup, .cgroupJoin:
            let fix = hints.first ?? cg.fix ?? "run under systemd with Delegate=yes, or mount cgroup2 writable"
            return Check(.fail, "sandbox (cgroup)", what, notes: ["fix: " + fix] + cg.notes)
        case .clone, .idMap, .setgid, .setuid:
            var notes: [String] = []
            if let v = try? String(contentsOfFile: "/proc/sys/user/max_user_namespaces", encoding: .utf8) {
                notes.append("/proc/sys/user/max_user_namespaces = \(v.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            if let v = try? String(contentsOfFile: "/proc/sys/kernel/unprivileged_userns_clone", encoding: .utf8) {
                notes.append("/proc/sys/kernel/unprivileged_userns_clone = \(v.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            if let v = try? String(contentsOfFile: "/proc/sys/kernel/apparmor_restrict_unprivileged_userns", encoding: .utf8) {
                notes.append("/proc/sys/kernel/apparmor_restrict_unprivileged_userns = \(v.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            if inChroot() {
                notes.append("this process runs in a chroot: the kernel refuses to create user namespaces there (use pivot_root or switch_root, or a container)")
            }
            notes.append("fix: allow user namespaces (sysctl user.max_user_namespaces > 0; kernel.unprivileged_userns_clone = 1 for rootless)")
            return Check(.fail, "sandbox (user namespaces)", what, notes: notes)
        case .seccomp, .seccompProfile:
            return Check(.fail, "sandbox (seccomp)", what)
        case .identity:
            return Check(.fail, "sandbox (host uid)", what, notes: hints)
        default:
            return Check(.fail, "sandbox (\(stage.name))", what, notes: hints)
        }
    }

    /// True when "/" is not the root of the mount namespace as pid 1 sees it (a chroot).
    /// Unknown (false) when /proc/1/root cannot be read (rootless).
    static func inChroot() -> Bool {
        var own = stat(), initRoot = stat()
        guard stat("/", &own) == 0, stat("/proc/1/root/", &initRoot) == 0 else { return false }
        return own.st_dev != initRoot.st_dev || own.st_ino != initRoot.st_ino
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
        out += storeChecks(config)
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
