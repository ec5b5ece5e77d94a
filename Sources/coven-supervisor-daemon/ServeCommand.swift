import Foundation
import CovenCommands
import Dispatch
import Sandbox
import Supervisor
import Adapter

/// `coven-supervisor serve [--config FILE] [--listen ADDR] [--state-dir DIR]`
enum ServeCommand {
    struct Options {
        var configPath: String?
        var listen: DaemonConfig.ListenAddress?
        var stateDir: String?
    }

    static let table = OptionTable<Options>(
        usage: ["coven-supervisor serve [--config FILE] [--listen ADDR] [--state-dir DIR]"],
        about: "Runs the daemon: GitHub webhooks and the task API in, each attempt in a sandbox, outcomes "
            + "published (GitHub Check Runs, PRs and comments, or the log). Logs are JSON lines on stderr. "
            + "SIGTERM/SIGINT: stop accepting, give running attempts the shutdown grace, tear down the rest "
            + "(they are retried at the next start), exit 0.",
        options: [
            .value("--config", metavar: "FILE", help: "the JSON configuration (docs/configuration.md)") { $0.configPath = $1 },
            .value("--listen", metavar: "ADDR", help: "override the listen address, e.g. 127.0.0.1:9000") {
                guard let l = DaemonConfig.ListenAddress.parse($1) else { throw CLI.UsageError("--listen: '\($1)' is not HOST:PORT") }
                $0.listen = l
            },
            .value("--state-dir", metavar: "DIR", help: "override the state directory (local mode: ./state)") { $0.stateDir = $1 },
        ],
        notes: "Without --config: local mode (what `make run` starts). No GitHub App; the bundled example runtime "
            + "runs tasks submitted to the task API or the dashboard; a demo repository is served over git "
            + "smart-HTTP on the same listener; the API token is written to <state>/api-token; outcomes are logged."
            + "\n\nexit status: 0 after a clean shutdown, 2 when it could not start.")

    static var help: String { table.help }

    static func main(_ args: [String]) -> Int32 {
        var o = Options()
        do {
            if try table.parse(args, into: &o) == .help { print(help); return 0 }
        } catch {
            return CLI.failure("serve", error, status: 2)
        }
        let (configPath, listen, stateDir) = (o.configPath, o.listen, o.stateDir)
        let cwd = FileManager.default.currentDirectoryPath
        let absoluteState = stateDir.map { (($0.hasPrefix("/") ? $0 : cwd + "/" + $0) as NSString).standardizingPath }

        let log = JSONLog(component: "serve")

        // Signals first (a SIGTERM during start-up still shuts down cleanly), delivered
        // to a dispatch source rather than the default handler.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let queue = DispatchQueue(label: "coven.serve.signals")
        let stop = DispatchSemaphore(value: 0)
        let received = SignalCount()
        let sources = [SIGTERM, SIGINT].map { sig -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if received.increment() == 1 {
                    log.event("signal", ["signal": sig == SIGTERM ? "SIGTERM" : "SIGINT", "action": "shutting down"])
                    stop.signal()
                } else {
                    // A second signal: do not wait for the grace. Sandboxes die with us.
                    log.event("signal", ["signal": sig == SIGTERM ? "SIGTERM" : "SIGINT", "action": "exiting now"])
                    _exit(1)
                }
            }
            source.resume()
            return source
        }

        let daemon: Daemon
        do {
            var config: DaemonConfig
            var options = DaemonOptions(log: log.event)
            if let configPath {
                config = try ConfigLoader.load(path: configPath)
                if let absoluteState { config.stateDirectory = absoluteState }
            } else {
                guard let examples = LocalMode.findExamplesDirectory() else {
                    CLI.fail("serve: local mode needs examples/\(LocalMode.exampleRuntimeName) from the source tree (run from the checkout), or give --config FILE")
                    return 2
                }
                let state = absoluteState ?? (cwd + "/state")
                let local = try LocalMode(stateDirectory: state)
                // The listen address first: the sandboxes' egress policy names it.
                config = listen.map { LocalMode.config(stateDirectory: state, examplesDirectory: examples, listen: $0) }
                    ?? LocalMode.config(stateDirectory: state, examplesDirectory: examples)
                options.local = local
            }
            if let listen { config.listen = listen }
            daemon = try Daemon(config: config, options: options)
            try daemon.start()
        } catch {
            CLI.fail("serve: \(error)")
            return 2
        }
        if let banner = daemon.local?.banner(cli: CLI.sibling("coven-supervisor")) {
            FileHandle.standardOutput.write(Data(banner.utf8))
        }

        let trimmer = IdleMemoryTrimmer(log: log.event)
        trimmer.start()

        stop.wait()
        trimmer.stop()
        daemon.stop()
        withExtendedLifetime(sources) {}
        return 0
    }

    final class SignalCount: @unchecked Sendable {
        private var n = 0
        private let lock = NSLock()
        func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    }
}
