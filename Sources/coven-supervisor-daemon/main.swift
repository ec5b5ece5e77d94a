import Foundation
import CovenCommands

// coven-supervisor-daemon: `serve` and `doctor` (the parts that need the HTTP server,
// OpenSSL and the GitHub client). `coven-supervisor serve|doctor` execs this binary;
// it also understands the lean binary's commands, so either can be called directly.

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    CLI.fail("usage: coven-supervisor serve|doctor [options] (see 'coven-supervisor help')")
    exit(2)
}
args.removeFirst()

switch command {
case "serve": exit(ServeCommand.main(args))
case "doctor": exit(DoctorCommand.main(args))
case "sandbox": exit(SandboxCommand.main(args))
case "run-task": exit(RunTaskCommand.main(args))
default:
    CLI.fail("coven-supervisor-daemon: unknown command '\(command)' (see 'coven-supervisor help')")
    exit(2)
}
