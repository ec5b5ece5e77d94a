import Foundation
import Sandbox

/// `coven-supervisor sandbox exec [options] -- CMD [ARGS...]`
public enum SandboxCommand {
    static let help = """
    usage: coven-supervisor sandbox exec [options] -- CMD [ARGS...]

    Runs CMD in a fresh namespace sandbox (user, mount, pid, ipc, uts, net, cgroup),
    as uid 1000 with no capabilities, no_new_privs and a seccomp profile, on a
    read-only system root with a tmpfs /workspace. CMD's stdout/stderr pass through.

    options:
      --profile NAME|PATH     seccomp profile (default: default; 'none' disables it)
      --network none|host|proxy
                              network mode (default: none). proxy: own namespace with
                              only loopback plus an egress proxy at 127.0.0.1:3128
                              (HTTPS_PROXY & co. set) that allows only the hosts below
      --allow-host PATTERN    proxy: allow a host, `*.suffix` or IP literal (repeatable;
                              none given = everything denied)
      --allow-port N          proxy: allow a destination port (repeatable; default 443
                              when none given; plain-HTTP forwarding needs 80)
      --allow-private ADDR    proxy: allow connecting to this loopback/private/link-local
                              address or CIDR (repeatable; the host must still be allowed)
      --egress-host NAME=ADDR proxy: resolve NAME to ADDR without DNS (repeatable)
      --max-egress SIZE       proxy: cap on bytes moved through the proxy (default: none)
      --egress-log PATH       proxy: write every egress decision as JSON to PATH
      --workspace-size SIZE   size of the /workspace tmpfs, the disk quota (default: 1G)
      --tmp-size SIZE         size of the /tmp tmpfs (default: 256M)
      --memory SIZE           memory limit (default: 2G)
      --pids N                process limit (default: 512)
      --cpus N                cpu limit, e.g. 1.5 (default: none)
      --timeout DURATION      wall-clock limit, e.g. 30s, 5m (default: none)
      --grace DURATION        time between SIGTERM and SIGKILL at teardown (default: 10s)
      --env K=V               set an environment variable (repeatable; the rest is cleared)
      --ro-bind SRC[:DST]     read-only bind of a host path (repeatable)
      --bind SRC[:DST]        writable bind of a host path (repeatable)
      --rootfs DIR            take system directories from DIR instead of the host
      --chdir DIR             working directory inside (default: /workspace)
      --hostname NAME         hostname inside (default: coven)
      --uid-range START-END   as root: lease the sandbox's host uid from these uids, END
                              included, at least 65536 (default: 300000-365535; leases
                              are shared with every coven-supervisor on the host through
                              lock files in /run/coven-supervisor/host-uids)
      --output-limit SIZE     cap for each of stdout and stderr (default: 8M)
      --report PATH           write the exit report as JSON to PATH
      -h, --help              show this help

    signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT are passed on to CMD (as timeout(1)
    does); a second one tears the sandbox down (SIGTERM, --grace, SIGKILL).

    exit status: CMD's exit code; 128+N if CMD died by signal N; 124 on timeout;
    125 if the sandbox could not be set up; 126 if CMD cannot be executed; 127 if
    CMD was not found.
    """

    public static func main(_ args: [String]) -> Int32 {
        guard let sub = args.first else {
            CLI.fail(help); return 125
        }
        if sub == "-h" || sub == "--help" { print(help); return 0 }
        guard sub == "exec" else { CLI.fail("sandbox: unknown subcommand '\(sub)'\n\n\(help)"); return 125 }
        do {
            let (spec, reportPath, egressLogPath, uidRange) = try parse(Array(args.dropFirst()))
            guard let spec else { print(help); return 0 }
            // SIGTERM, SIGINT, SIGHUP, SIGQUIT go to the sandbox (as `timeout` passes them on),
            // so a killed or interrupted run still tears down and cleans up. Blocked before
            // any thread exists, so that every thread inherits the mask.
            let signals = Sandbox.forwardedSignals()
            // What earlier runs killed with SIGKILL left: cgroups, socket directories (a readdir each).
            Cgroups.removeStale()
            EgressSocketSweep.removeStale(in: spec.egressSocketParent ?? NSTemporaryDirectory())
            let result = Sandbox.run(spec, identities: uidRange.map { HostIdentityPool(range: $0) } ?? .shared,
                                     forwardSignalsFrom: signals)
            Sandbox.finishCleanup()
            for w in result.report.warnings { CLI.warn(w) }
            for u in result.report.unenforcedLimits { CLI.warn("sandbox: \(u.limit.rawValue) limit not enforced: \(u.reason)") }
            if case .setupFailed(_, _, let detail) = result.report.exitClass {
                CLI.fail("sandbox: set-up failed: \(detail)")
            }
            if case .spawnFailed(let e) = result.report.exitClass {
                CLI.fail("sandbox: cannot execute \(spec.command[0]): \(String(cString: strerror(e)))")
            }
            if case .timedOut = result.report.exitClass { CLI.warn("sandbox: timed out") }
            if let reportPath {
                try ExitReportJSON.encode(result.report).write(to: URL(fileURLWithPath: reportPath))
            }
            if let egressLogPath, let egress = result.egress {
                try egress.jsonData().write(to: URL(fileURLWithPath: egressLogPath))
            }
            return result.report.shellStatus
        } catch {
            return CLI.failure("sandbox exec", error, status: 125)
        }
    }

    static func parse(_ args: [String]) throws -> (SandboxSpec?, String?, String?, Range<UInt32>?) {
        var spec = SandboxSpec(command: [])
        spec.stdout = .forward(fd: 1, limit: OutputSink.defaultLimit)
        spec.stderr = .forward(fd: 2, limit: OutputSink.defaultLimit)
        var report: String?
        var egressLog: String?
        var uidRange: Range<UInt32>?
        var outputLimit = OutputSink.defaultLimit
        var ports: [Int] = []
        var it = CLI.Arguments(args)
        while let arg = it.next() {
            switch arg {
            case "--": spec.command = it.rest(); 
            case "-h", "--help": return (nil, nil, nil, nil)
            case "--profile":
                let v = try it.value(for: arg)
                spec.seccompProfile = v == "none" ? nil : v
            case "--network":
                let v = try it.value(for: arg)
                guard let mode = NetworkMode(rawValue: v) else { throw CLI.UsageError("--network: expected none, host or proxy, got '\(v)'") }
                spec.network = mode
            case "--allow-host":
                let v = try it.value(for: arg)
                guard HostPattern(v) != nil else { throw CLI.UsageError("--allow-host: '\(v)' is not a host name, *.suffix or IP address") }
                spec.egress.allowHosts.append(v)
            case "--allow-port":
                let v = try it.value(for: arg)
                guard let n = Int(v), (1...65535).contains(n) else { throw CLI.UsageError("--allow-port: expected a port number, got '\(v)'") }
                ports.append(n)
            case "--allow-private":
                let v = try it.value(for: arg)
                guard CIDR(v) != nil else { throw CLI.UsageError("--allow-private: '\(v)' is not an address or CIDR") }
                spec.egress.allowPrivateDestinations.append(v)
            case "--egress-host":
                let v = try it.value(for: arg)
                let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, HostPattern.normalizedName(kv[0]) != nil, IPAddress(kv[1]) != nil else {
                    throw CLI.UsageError("--egress-host: expected NAME=ADDRESS, got '\(v)'")
                }
                spec.egress.staticHosts[kv[0]] = kv[1]
            case "--max-egress": spec.egress.maxBytes = try it.size(for: arg)
            case "--egress-log": egressLog = try it.value(for: arg)
            case "--workspace-size": spec.workspaceSize = try it.size(for: arg)
            case "--tmp-size": spec.tmpSize = try it.size(for: arg)
            case "--memory": spec.limits.memoryBytes = try it.size(for: arg)
            case "--pids":
                let v = try it.value(for: arg)
                guard let n = Int(v), n > 0 else { throw CLI.UsageError("--pids: expected a positive number, got '\(v)'") }
                spec.limits.pids = n
            case "--cpus":
                let v = try it.value(for: arg)
                guard let n = Double(v), n > 0 else { throw CLI.UsageError("--cpus: expected a positive number, got '\(v)'") }
                spec.limits.cpus = n
            case "--timeout": spec.timeout = try it.duration(for: arg)
            case "--grace": spec.grace = try it.duration(for: arg)
            case "--env":
                let v = try it.value(for: arg)
                guard let eq = v.firstIndex(of: "="), eq != v.startIndex else { throw CLI.UsageError("--env: expected K=V, got '\(v)'") }
                spec.environment[String(v[..<eq])] = String(v[v.index(after: eq)...])
            case "--ro-bind", "--bind":
                do { spec.binds.append(try Bind.parse(try it.value(for: arg), writable: arg == "--bind")) }
                catch let e as SandboxError { throw CLI.UsageError("\(arg): \(e.message)") }
            case "--rootfs": spec.systemFiles = .rootfs(try it.value(for: arg))
            case "--chdir": spec.workingDirectory = try it.value(for: arg)
            case "--hostname": spec.hostname = try it.value(for: arg)
            case "--uid-range": uidRange = try it.uidRange(for: arg)
            case "--output-limit": outputLimit = Int(try it.size(for: arg))
            case "--report": report = try it.value(for: arg)
            default:
                if arg.hasPrefix("-") { throw CLI.UsageError("unknown option '\(arg)'") }
                spec.command = [arg] + it.rest()
            }
        }
        guard !spec.command.isEmpty else { throw CLI.UsageError("no command given (use -- CMD [ARGS...])") }
        if !ports.isEmpty { spec.egress.allowPorts = ports }
        let proxyOptions = !spec.egress.allowHosts.isEmpty || !ports.isEmpty || !spec.egress.allowPrivateDestinations.isEmpty
            || !spec.egress.staticHosts.isEmpty || spec.egress.maxBytes != nil || egressLog != nil
        if proxyOptions && spec.network != .proxy {
            throw CLI.UsageError("--allow-host, --allow-port, --allow-private, --egress-host, --max-egress and --egress-log need --network proxy")
        }
        spec.stdout = .forward(fd: 1, limit: outputLimit)
        spec.stderr = .forward(fd: 2, limit: outputLimit)
        return (spec, report, egressLog, uidRange)
    }
}
