import Foundation
import CovenCommands

// coven-supervisor: the command-line entry point. This binary is kept lean (the
// sandbox and the supervisor, no HTTP, TLS or GitHub client) so `sandbox exec` and
// `run-task` start fast; `serve`, `doctor`, `tasks` and `store` run in coven-supervisor-daemon, which is
// installed beside it and which this binary execs.

let usage = """
usage: coven-supervisor <command> [options]

commands:
  sandbox exec [options] -- CMD [ARGS...]   run a command in a namespace sandbox
  run-task --task FILE --runtime CMD [ARGS...]
                                            run one task through the attempt loop
  serve [--config FILE]                     run the webhook adapter and task daemon
  doctor [--config FILE]                    check kernel features and configuration
  tasks list|show|logs|cancel|retry|submit  the daemon's tasks, through its task API
  store migrate --from sqlite:PATH --to postgres --url-file FILE
                                            copy a SQLite store into PostgreSQL (fleet mode)
  help                                      show this help

Run 'coven-supervisor <command> --help' for a command's options.
"""

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
args.removeFirst()

switch command {
case "sandbox":
    exit(SandboxCommand.main(args))
case "run-task":
    exit(RunTaskCommand.main(args))
case "serve", "doctor", "tasks", "store":
    let daemon = CLI.sibling("coven-supervisor-daemon")
    let argv = [daemon, command] + args
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    execv(daemon, &cargs)
    CLI.fail("coven-supervisor: cannot run \(daemon) for '\(command)': \(String(cString: strerror(errno))) (install it beside coven-supervisor)")
    exit(2)
case "help", "--help", "-h":
    print(usage)
    exit(0)
default:
    FileHandle.standardError.write(Data("coven-supervisor: unknown command '\(command)'\n\n\(usage)\n".utf8))
    exit(2)
}
