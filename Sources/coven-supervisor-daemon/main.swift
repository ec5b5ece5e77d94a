import Foundation
import CovenCommands
import TaskCommands
import Adapter

// coven-supervisor-daemon: `serve`, `doctor`, `tasks` and `store` (the parts that need HTTP,
// OpenSSL, libpq and the GitHub client). `coven-supervisor serve|doctor|tasks|store` execs this binary;
// it also understands the lean binary's commands, so either can be called directly.

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    CLI.fail("usage: coven-supervisor serve|doctor|tasks|store [options] (see 'coven-supervisor help')")
    exit(2)
}
args.removeFirst()

switch command {
case "serve": exit(ServeCommand.main(args))
case "doctor": exit(DoctorCommand.main(args))
case "tasks": exit(TasksCommand.main(args))
case "store": exit(StoreCommand.main(args))
// The HTTP interface's OpenAPI document (`make openapi` writes docs/openapi.json with it).
case "openapi": print(OpenAPIDocument.json); exit(0)
case "sandbox": exit(SandboxCommand.main(args))
case "run-task": exit(RunTaskCommand.main(args))
default:
    CLI.fail("coven-supervisor-daemon: unknown command '\(command)' (see 'coven-supervisor help')")
    exit(2)
}
