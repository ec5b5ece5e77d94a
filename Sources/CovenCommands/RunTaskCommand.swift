import Foundation
import Sandbox
import Supervisor

/// `coven-supervisor run-task --task FILE --runtime CMD [ARGS...]`
public enum RunTaskCommand {
    /// What `run-task`'s options set.
    struct Options: SandboxOptionState {
        var taskFile: String?
        var tokenFile: String?
        var stateDir: String?
        var runtime: [String] = []
        var retry = RetryPolicy()
        var config = AttemptConfig(runtime: [], attemptsDirectory: "")
        var ports: [Int] = []
        var uidRange: Range<UInt32>?
        var network: NetworkMode { get { config.network } set { config.network = newValue } }
        var egress: EgressPolicy { get { config.egress } set { config.egress = newValue } }
    }

    typealias Option = OptionTable<Options>.Option

    static let table = OptionTable<Options>(
        usage: ["coven-supervisor run-task --task FILE [options] --runtime CMD [ARGS...]"],
        about: "Runs one task through the whole attempt loop in the foreground (sandbox, pre-clone, runtime per "
            + "the headless contract, classification, retries) and prints the final task record as JSON. "
            + "Everything after --runtime is the runtime's command line (--headless --context ... --output ... "
            + "are appended).",
        options: taskOptions + sandboxOptions,
        notes: "exit status: 0 completed, 1 failed or cancelled, 2 could not start.")

    static let taskOptions: [Option] = [
        .value("--task", metavar: "FILE", help: "the task as JSON (see docs/contract.md)") { $0.taskFile = $1 },
        .value("--git-token-file", metavar: "FILE", help: "the git token for the repository (read per attempt)") { $0.tokenFile = $1 },
        .value("--state-dir", metavar: "DIR", help: "keep the store here (default: a temporary directory); "
               + "an existing task with the same id is resumed") { $0.stateDir = $1 },
        .value("--timeout", metavar: "DURATION", help: "per-attempt wall-clock limit (default: 30m)") {
            $0.config.timeout = try OptionValue.duration("--timeout", $1)
        },
        .value("--grace", metavar: "DURATION", help: "SIGTERM-to-SIGKILL grace (default: 10s)") {
            $0.config.grace = try OptionValue.duration("--grace", $1)
        },
        .value("--max-retries", metavar: "N", help: "further attempts after retry-safe failures (default: 2)") {
            $0.retry.maxRetries = try OptionValue.integer("--max-retries", $1, in: 0...1000, what: "a number ≥ 0")
        },
        .value("--backoff", metavar: "DURATION", help: "first retry delay, doubled each time (default: 2s)") {
            $0.retry.baseDelay = try OptionValue.duration("--backoff", $1).seconds
        },
    ]

    static let sandboxOptions: [Option] = [
        .network(default: "proxy: only the egress allowlist, GitHub and the model providers by default"),
    ] + Option.egressAllowlist(hostsNote: "added to the defaults", portsNote: "replaces the default 443") + [
        .value("--memory", metavar: "SIZE", help: "memory limit per attempt (default: 4G)") {
            $0.config.limits.memoryBytes = try OptionValue.size("--memory", $1)
        },
        .value("--workspace-size", metavar: "SIZE", help: "/workspace size (default: 4G)") {
            $0.config.workspaceSize = try OptionValue.size("--workspace-size", $1)
        },
        .value("--ro-bind", metavar: "SRC[:DST]", help: "extra read-only bind (repeatable)") {
            $0.config.binds.append(try SandboxCommand.bind("--ro-bind", $1, writable: false))
        },
        .uidRange(what: "each attempt's"),
        .flag("--expose-token-env", help: "also set COVEN_GIT_TOKEN for runtimes that read it") { $0.config.exposeTokenEnv = true },
        .rest("--runtime", metavar: "CMD [ARGS...]", help: "the runtime's command line; comes last") { $0.runtime = $1 },
    ]

    static var help: String { table.help }

    public static func main(_ args: [String]) -> Int32 {
        var o = Options()
        do {
            if try table.parse(args, into: &o) == .help { print(help); return 0 }
            try o.finishEgress()
            let (taskFile, tokenFile, stateDir, runtime, retry, uidRange) = (o.taskFile, o.tokenFile, o.stateDir, o.runtime, o.retry, o.uidRange)
            var config = o.config
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
