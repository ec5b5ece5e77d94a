import Foundation
import Sandbox

/// `coven-supervisor sandbox exec [options] -- CMD [ARGS...]`
public enum SandboxCommand {
    /// What `sandbox exec`'s options set.
    struct Options: SandboxOptionState {
        var spec = SandboxSpec(command: [])
        var report: String?
        var egressLog: String?
        var uidRange: Range<UInt32>?
        var outputLimit = OutputSink.defaultLimit
        var ports: [Int] = []
        var network: NetworkMode { get { spec.network } set { spec.network = newValue } }
        var egress: EgressPolicy { get { spec.egress } set { spec.egress = newValue } }
        var egressLogRequested: Bool { egressLog != nil }
    }

    static let table = OptionTable<Options>(
        usage: ["coven-supervisor sandbox exec [options] -- CMD [ARGS...]"],
        about: "Runs CMD in a fresh namespace sandbox (user, mount, pid, ipc, uts, net, cgroup), as uid 1000 "
            + "with no capabilities, no_new_privs and a seccomp profile, on a read-only system root with a tmpfs "
            + "/workspace. CMD's stdout/stderr pass through.",
        options: networkOptions + resourceOptions + filesystemOptions,
        operands: .command("CMD [ARGS...]") { $0.spec.command = $1 },
        notes: notes)

    typealias Option = OptionTable<Options>.Option

    static let networkOptions: [Option] = [
            .value("--profile", metavar: "NAME|PATH", help: "seccomp profile (default: default; 'none' disables it)") {
                $0.spec.seccompProfile = $1 == "none" ? nil : $1
            },
            .network(default: "none"),
        ] + Option.egressAllowlist(hostsNote: "none given = everything denied",
                             portsNote: "default 443 when none given; plain-HTTP forwarding needs 80") + [
            .value("--max-egress", metavar: "SIZE", help: "proxy: cap on bytes moved through the proxy (default: none)") {
                $0.spec.egress.maxBytes = try OptionValue.size("--max-egress", $1)
            },
            .value("--egress-log", metavar: "PATH", help: "proxy: write every egress decision as JSON to PATH") { $0.egressLog = $1 },
    ]

    static let resourceOptions: [Option] = [
            .value("--workspace-size", metavar: "SIZE", help: "size of the /workspace tmpfs, the disk quota (default: 1G)") {
                $0.spec.workspaceSize = try OptionValue.size("--workspace-size", $1)
            },
            .value("--tmp-size", metavar: "SIZE", help: "size of the /tmp tmpfs (default: 256M)") {
                $0.spec.tmpSize = try OptionValue.size("--tmp-size", $1)
            },
            .value("--memory", metavar: "SIZE", help: "memory limit (default: 2G)") {
                $0.spec.limits.memoryBytes = try OptionValue.size("--memory", $1)
            },
            .value("--pids", metavar: "N", help: "process limit (default: 512)") {
                $0.spec.limits.pids = try OptionValue.integer("--pids", $1, in: 1...Int(Int32.max), what: "a positive number")
            },
            .value("--cpus", metavar: "N", help: "cpu limit, e.g. 1.5 (default: none)") {
                $0.spec.limits.cpus = try OptionValue.positiveNumber("--cpus", $1)
            },
            .value("--timeout", metavar: "DURATION", help: "wall-clock limit, e.g. 30s, 5m (default: none)") {
                $0.spec.timeout = try OptionValue.duration("--timeout", $1)
            },
            .value("--grace", metavar: "DURATION", help: "time between SIGTERM and SIGKILL at teardown (default: 10s)") {
                $0.spec.grace = try OptionValue.duration("--grace", $1)
            },
    ]

    static let filesystemOptions: [Option] = [
            .value("--env", metavar: "K=V", help: "set an environment variable (repeatable; the rest is cleared)", setEnvironment),
            .value("--ro-bind", metavar: "SRC[:DST]", help: "read-only bind of a host path (repeatable)") {
                try $0.spec.binds.append(bind("--ro-bind", $1, writable: false))
            },
            .value("--bind", metavar: "SRC[:DST]", help: "writable bind of a host path (repeatable)") {
                try $0.spec.binds.append(bind("--bind", $1, writable: true))
            },
            .value("--rootfs", metavar: "DIR", help: "take system directories from DIR instead of the host") {
                $0.spec.systemFiles = .rootfs($1)
            },
            .value("--chdir", metavar: "DIR", help: "working directory inside (default: /workspace)") { $0.spec.workingDirectory = $1 },
            .value("--hostname", metavar: "NAME", help: "hostname inside (default: coven)") { $0.spec.hostname = $1 },
            .uidRange(what: "the sandbox's"),
            .value("--output-limit", metavar: "SIZE", help: "cap for each of stdout and stderr (default: 8M)") {
                $0.outputLimit = Int(try OptionValue.size("--output-limit", $1))
            },
            .value("--report", metavar: "PATH", help: "write the exit report as JSON to PATH") { $0.report = $1 },
    ]

    static let notes = """
            signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT are passed on to CMD (as timeout(1) does); a second one \
            tears the sandbox down (SIGTERM, --grace, SIGKILL).

            exit status: CMD's exit code; 128+N if CMD died by signal N; 124 on timeout; 125 if the sandbox \
            could not be set up; 126 if CMD cannot be executed; 127 if CMD was not found.
            """

    static var help: String { table.help }

    static func setEnvironment(_ o: inout Options, _ v: String) throws {
        guard let eq = v.firstIndex(of: "="), eq != v.startIndex else { throw CLI.UsageError("--env: expected K=V, got '\(v)'") }
        o.spec.environment[String(v[..<eq])] = String(v[v.index(after: eq)...])
    }

    static func bind(_ option: String, _ value: String, writable: Bool) throws -> Bind {
        do { return try Bind.parse(value, writable: writable) } catch let e as SandboxError { throw CLI.UsageError("\(option): \(e.message)") }
    }

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
            // What earlier runs killed with SIGKILL left: cgroups, and (a proxy run only, as it
            // reads all of /tmp, which can hold thousands of entries) socket directories.
            Cgroups.removeStale()
            if spec.network == .proxy {
                EgressSocketSweep.removeStale(in: spec.egressSocketParent ?? NSTemporaryDirectory())
            }
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
        var o = Options()
        if try table.parse(args, into: &o) == .help { return (nil, nil, nil, nil) }
        guard !o.spec.command.isEmpty else { throw CLI.UsageError("no command given (use -- CMD [ARGS...])") }
        try o.finishEgress()
        o.spec.stdout = .forward(fd: 1, limit: o.outputLimit)
        o.spec.stderr = .forward(fd: 2, limit: o.outputLimit)
        return (o.spec, o.report, o.egressLog, o.uidRange)
    }
}
