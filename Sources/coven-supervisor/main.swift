import Foundation

// coven-supervisor: the command-line entry point. Each subcommand lives in its
// own file (SandboxCommand.swift, DoctorCommand.swift, RunTaskCommand.swift,
// ServeCommand.swift); this file only dispatches.

let usage = """
usage: coven-supervisor <command> [options]

commands:
  sandbox exec [options] -- CMD [ARGS...]   run a command in a namespace sandbox
  run-task --task FILE --runtime CMD [ARGS...]
                                            run one task through the attempt loop
  serve [--config FILE]                     run the webhook adapter and task daemon
  doctor [--config FILE]                    check kernel features and configuration
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
case "doctor":
    exit(DoctorCommand.main(args))
case "run-task":
    exit(RunTaskCommand.main(args))
case "serve":
    exit(ServeCommand.main(args))
case "help", "--help", "-h":
    print(usage)
    exit(0)
default:
    FileHandle.standardError.write(Data("coven-supervisor: unknown command '\(command)'\n\n\(usage)\n".utf8))
    exit(2)
}
