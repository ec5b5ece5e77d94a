import Foundation
import Sandbox
import Supervisor

/// `coven-supervisor run-task --task FILE --runtime CMD [ARGS...]`
public enum RunTaskCommand {
    static let help = """
    usage: coven-supervisor run-task --task FILE [options] --runtime CMD [ARGS...]

    Runs one task through the whole attempt loop in the foreground (sandbox,
    pre-clone, runtime per the headless contract, classification, retries) and
    prints the final task record as JSON. Everything after --runtime is the
    runtime's command line (--headless --context ... --output ... are appended).

    options:
      --task FILE            the task as JSON (see docs/contract.md)
      --git-token-file FILE  the git token for the repository (read per attempt)
      --state-dir DIR        keep the store here (default: a temporary directory);
                             an existing task with the same id is resumed
      --timeout DURATION     per-attempt wall-clock limit (default: 30m)
      --grace DURATION       SIGTERM-to-SIGKILL grace (default: 10s)
      --max-retries N        further attempts after retry-safe failures (default: 2)
      --backoff DURATION     first retry delay, doubled each time (default: 2s)
      --network none|host|proxy
                             the sandbox's network (default: proxy: only the egress
                             allowlist, GitHub and the model providers by default)
      --allow-host PATTERN   proxy: also allow this host or *.suffix (repeatable)
      --allow-port N         proxy: allowed ports (repeatable; replaces the default 443)
      --allow-private ADDR   proxy: allow this private/loopback address or CIDR (repeatable)
      --egress-host NAME=ADDR
                             proxy: resolve NAME to ADDR without DNS (repeatable)
      --memory SIZE          memory limit per attempt (default: 4G)
      --workspace-size SIZE  /workspace size (default: 4G)
      --ro-bind SRC[:DST]    extra read-only bind (repeatable)
      --uid-range START-END  as root: lease each attempt's host uid from these uids, END
                             included, at least 65536 (default: 300000-365535; shared
                             with every coven-supervisor on the host through lock files
                             in /run/coven-supervisor/host-uids)
      --expose-token-env     also set COVEN_GIT_TOKEN for runtimes that read it
      -h, --help             show this help

    exit status: 0 completed, 1 failed or cancelled, 2 could not start.
    """

    public static func main(_ args: [String]) -> Int32 {
        var taskFile: String?
        var tokenFile: String?
        var stateDir: String?
        var runtime: [String] = []
        var retry = RetryPolicy()
        var config = AttemptConfig(runtime: [], attemptsDirectory: "")
        var ports: [Int] = []
        var uidRange: Range<UInt32>?
        var it = CLI.Arguments(args)
        do {
            while let a = it.next() {
                switch a {
                case "-h", "--help": print(help); return 0
                case "--task": taskFile = try it.value(for: a)
                case "--git-token-file": tokenFile = try it.value(for: a)
                case "--state-dir": stateDir = try it.value(for: a)
                case "--timeout": config.timeout = try it.duration(for: a)
                case "--grace": config.grace = try it.duration(for: a)
                case "--max-retries":
                    let v = try it.value(for: a)
                    guard let n = Int(v), n >= 0 else { throw CLI.UsageError("--max-retries: expected a number ≥ 0, got '\(v)'") }
                    retry.maxRetries = n
                case "--backoff": retry.baseDelay = try it.duration(for: a).seconds
                case "--network":
                    let v = try it.value(for: a)
                    guard let m = NetworkMode(rawValue: v) else { throw CLI.UsageError("--network: expected none, host or proxy, got '\(v)'") }
                    config.network = m
                case "--allow-host":
                    let v = try it.value(for: a)
                    guard HostPattern(v) != nil else { throw CLI.UsageError("--allow-host: '\(v)' is not a host name, *.suffix or IP address") }
                    config.egress.allowHosts.append(v)
                case "--allow-port":
                    let v = try it.value(for: a)
                    guard let n = Int(v), (1...65535).contains(n) else { throw CLI.UsageError("--allow-port: expected a port number, got '\(v)'") }
                    ports.append(n)
                case "--allow-private":
                    let v = try it.value(for: a)
                    guard CIDR(v) != nil else { throw CLI.UsageError("--allow-private: '\(v)' is not an address or CIDR") }
                    config.egress.allowPrivateDestinations.append(v)
                case "--egress-host":
                    let v = try it.value(for: a)
                    let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, HostPattern.normalizedName(kv[0]) != nil, IPAddress(kv[1]) != nil else {
                        throw CLI.UsageError("--egress-host: expected NAME=ADDRESS, got '\(v)'")
                    }
                    config.egress.staticHosts[kv[0]] = kv[1]
                case "--memory": config.limits.memoryBytes = try it.size(for: a)
                case "--workspace-size": config.workspaceSize = try it.size(for: a)
                case "--ro-bind": config.binds.append(try Bind.parse(try it.value(for: a), writable: false))
                case "--expose-token-env": config.exposeTokenEnv = true
                case "--uid-range": uidRange = try it.uidRange(for: a)
                case "--runtime": runtime = it.rest()
                default: throw CLI.UsageError("unknown option '\(a)'")
                }
            }
            if !ports.isEmpty { config.egress.allowPorts = ports }
            guard let taskFile else { throw CLI.UsageError("--task FILE is required") }
            guard !runtime.isEmpty else { throw CLI.UsageError("--runtime CMD is required (and comes last)") }
            guard let data = FileManager.default.contents(atPath: taskFile) else { throw CLI.UsageError("cannot read task file \(taskFile)") }
            let spec: TaskSpec
            do { spec = try JSONDecoder().decode(TaskSpec.self, from: data) }
            catch { throw CLI.UsageError("task file \(taskFile): \(describe(error))") }

            // The runtime must be visible inside the sandbox: bind it if it lives outside the system dirs.
            let coveredByBind = config.binds.contains { runtime[0] == $0.destination || runtime[0].hasPrefix($0.destination + "/") }
            if runtime[0].hasPrefix("/") && !coveredByBind && FileManager.default.fileExists(atPath: runtime[0])
                && !["/usr/", "/bin/", "/sbin/", "/lib"].contains(where: { runtime[0].hasPrefix($0) }) {
                config.binds.append(Bind(source: runtime[0]))
            }
            config.runtime = runtime

            let temporary = stateDir == nil
            let dir = stateDir ?? NSTemporaryDirectory() + "coven-run-task-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o711)
            defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }
            config.attemptsDirectory = dir + "/attempts"

            let store = try TaskStore(path: dir + "/coven.db")
            let runner = try AttemptRunner(config: config, identities: uidRange.map { HostIdentityPool(range: $0) } ?? .shared)
            let log = JSONLog(component: "run-task")
            let supervisor = TaskSupervisor(store: store, runner: runner, tokens: tokenFile.map { FileTokenProvider(path: $0) },
                                            publisher: LogPublisher(),
                                            settings: SupervisorSettings(globalConcurrency: 1, retry: retry),
                                            log: log.event)
            if try store.task(id: spec.id) == nil {
                try supervisor.submit(spec)
            }
            try supervisor.start()   // also sweeps stale cgroups and egress socket directories of killed runs
            let detail = supervisor.waitForFinalState(taskID: spec.id, timeout: .seconds(365 * 86400))
            supervisor.shutdown()
            Sandbox.finishCleanup()
            guard let detail else { CLI.fail("run-task: task \(spec.id) vanished from the store"); return 2 }
            FileHandle.standardOutput.write(TaskJSON.data(detail))
            FileHandle.standardOutput.write(Data("\n".utf8))
            return detail.record.state == .completed ? 0 : 1
        } catch {
            return CLI.failure("run-task", error, status: 2)
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let k, let ctx):
            return "missing key '\((ctx.codingPath + [k]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "'\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
