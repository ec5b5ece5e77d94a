import Foundation
import CovenCommands

/// `coven-supervisor tasks list|show|logs|cancel|retry|submit`: the operator's view of the
/// daemon, over its task API.
///
/// Exit status: 0 success, 1 the daemon refused, 2 usage error, 3 the daemon is unreachable.
public enum TasksCommand {
    public enum Status: Int32, Sendable {
        case ok = 0, refused = 1, usage = 2, unreachable = 3
    }

    public static func main(_ args: [String]) -> Int32 { run(args, console: .standard).rawValue }

    static let subcommands: [(name: String, summary: String, run: @Sendable ([String], Console) throws -> Void)] = [
        ("list", "list tasks, newest first", { try List.run($0, $1) }),
        ("show", "one task with its attempts and their exit reports", { try Show.run($0, $1) }),
        ("logs", "an attempt's output; -f follows it while it runs", { try Logs.run($0, $1) }),
        ("cancel", "cancel a queued or running task", { try Cancel.run($0, $1) }),
        ("retry", "queue a finished task again", { try Retry.run($0, $1) }),
        ("submit", "submit a task from a JSON file (- for stdin)", { try Submit.run($0, $1) }),
    ]

    static var help: String {
        let width = subcommands.map(\.name.count).max() ?? 0
        return """
        usage: coven-supervisor tasks <command> [options]

        The daemon's tasks, through its task API (see docs/operations.md).

        commands:
        \(subcommands.map { "  " + $0.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))

        Run 'coven-supervisor tasks <command> --help' for a command's options.
        The daemon and its token: --url/--token-file, $\(TaskAPIEndpoint.environmentURL) and \
        $\(TaskAPIEndpoint.environmentToken), --config, or local mode's ./state.

        exit status: 0 success, 1 the daemon refused, 2 usage error, 3 the daemon is unreachable.

        """
    }

    public static func run(_ args: [String], console: Console) -> Status {
        guard let name = args.first else { console.fail(help); return .usage }
        if ["-h", "--help", "help"].contains(name) { console.out(Data(help.utf8)); return .ok }
        guard let sub = subcommands.first(where: { $0.name == name }) else {
            console.fail("tasks: unknown command '\(name)'\n\n\(help)")
            return .usage
        }
        do {
            try sub.run(Array(args.dropFirst()), console)
            return .ok
        } catch let e as CLI.UsageError {
            console.fail("tasks \(name): \(e.message)\nRun 'coven-supervisor tasks \(name) --help' for usage.")
            return .usage
        } catch let e as TaskAPIError {
            console.fail("tasks \(name): \(e)")
            if case .unreachable = e { return .unreachable }
            return .refused
        } catch {
            console.fail("tasks \(name): \(error)")
            return .refused
        }
    }

    /// Parses `args` with `table`; nil after printing the help.
    static func parse<S>(_ table: OptionTable<S>, _ args: [String], _ state: S, _ console: Console) throws -> S? {
        var s = state
        if try table.parse(args, into: &s) == .help { console.out(Data(table.help.utf8)); return nil }
        return s
    }

    static func client(_ o: TaskAPIEndpoint.Options) throws -> TaskAPIClient {
        TaskAPIClient(endpoint: try TaskAPIEndpoint.resolve(o))
    }

    static func json(_ value: Any) -> Data {
        var data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])) ?? Data("null".utf8)
        data.append(0x0a)
        return data
    }

    /// The id operand of show, logs, cancel and retry.
    struct OneTask: TaskAPIConnectionState {
        var connection = TaskAPIEndpoint.Options()
        var id: String?
        var json = false
        var attempt: Int?
        var stderr = false
        var follow = false

        mutating func setID(_ v: String) throws {
            guard id == nil else { throw CLI.UsageError("one task ID only (got '\(id!)' and '\(v)')") }
            guard !v.isEmpty else { throw CLI.UsageError("the task ID is empty") }
            id = v
        }

        func requireID() throws -> String {
            guard let id else { throw CLI.UsageError("no task ID given") }
            return id
        }
    }

    static func oneTask(_ name: String, _ about: String, _ extra: [OptionTable<OneTask>.Option] = []) -> OptionTable<OneTask> {
        OptionTable(usage: ["coven-supervisor tasks \(name) [options] ID"], about: about,
                    options: extra + OptionTable<OneTask>.Option.connection,
                    operands: .each("ID") { try $0.setID($1) })
    }

    static let jsonFlag = OptionTable<OneTask>.Option.flag("--json", help: "print the daemon's JSON instead of a table") {
        $0.json = true
    }

    // MARK: - list

    enum List {
        struct State: TaskAPIConnectionState {
            var connection = TaskAPIEndpoint.Options()
            var state: String?
            var repo: String?
            var limit: Int?
            var json = false
        }

        static let table = OptionTable<State>(
            usage: ["coven-supervisor tasks list [--state S] [--repo OWNER/NAME] [--limit N]", "[--json] [options]"],
            about: "Lists tasks, newest first.",
            options: [
                .value("--state", metavar: "S", help: "only tasks in this state (queued, running, completed, failed, cancelled)") {
                    $0.state = $1
                },
                .value("--repo", metavar: "OWNER/NAME", help: "only tasks of this repository") {
                    guard $1.split(separator: "/", omittingEmptySubsequences: false).count == 2 else {
                        throw CLI.UsageError("--repo: expected OWNER/NAME, got '\($1)'")
                    }
                    $0.repo = $1
                },
                .value("--limit", metavar: "N", help: "at most N tasks (1-1000, default: 100)") {
                    $0.limit = try OptionValue.integer("--limit", $1, in: 1...1000, what: "a number from 1 to 1000")
                },
                .flag("--json", help: "print the daemon's JSON instead of a table") { $0.json = true },
            ] + OptionTable<State>.Option.connection)

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, State(), console) else { return }
            let api = try client(s.connection)
            let answer = try api.call("GET", TaskAPIClient.path("/api/tasks", query: [
                ("state", s.state), ("repo", s.repo), ("limit", s.limit.map(String.init)),
            ]))
            let tasks = answer["tasks"] as? [[String: Any]] ?? []
            if s.json { console.out(json(tasks)) } else { console.print(TaskTables.list(tasks)) }
        }
    }

    // MARK: - show

    enum Show {
        static let table = oneTask("show", "One task: its state, trigger and result, and every attempt with its exit "
                                   + "report (class, exit, wall and CPU time, peak memory, output sizes, denied syscalls).",
                                   [jsonFlag])

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, OneTask(), console) else { return }
            let id = try s.requireID()
            let task = try client(s.connection).call("GET", "/api/tasks/" + TaskAPIClient.segment(id))
            if s.json { console.out(json(task)) } else { console.print(TaskTables.show(task)) }
        }
    }

    // MARK: - logs

    enum Logs {
        static let table = oneTask("logs", "An attempt's output (stdout unless --stderr), redacted as stored. With -f, "
                                   + "follows a running attempt until it ends.", [
            .value("--attempt", metavar: "N", help: "which attempt (default: the latest)") {
                $0.attempt = try OptionValue.integer("--attempt", $1, in: 1...1_000_000, what: "an attempt number")
            },
            .flag("--stderr", help: "the attempt's stderr instead of its stdout") { $0.stderr = true },
            .flag("-f", "--follow", help: "keep printing while the attempt runs") { $0.follow = true },
        ])

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, OneTask(), console) else { return }
            let id = try s.requireID()
            let api = try client(s.connection)
            var attempt = s.attempt
            if attempt == nil {
                let task = try api.call("GET", "/api/tasks/" + TaskAPIClient.segment(id))
                let numbers = (task["attempts"] as? [[String: Any]] ?? []).compactMap { ($0["number"] as? NSNumber)?.intValue }
                guard let last = numbers.max() else { throw TaskAPIError.refused(status: 404, message: "task \(id) has no attempt yet") }
                attempt = last
            }
            let path = TaskAPIClient.path("/api/tasks/\(TaskAPIClient.segment(id))/attempts/\(attempt!)/output", query: [
                ("stream", s.stderr ? "stderr" : "stdout"), ("follow", s.follow ? "1" : nil),
            ])
            let out = console.out
            try api.stream(path) { out($0) }
            guard s.follow else { return }
            // A daemon that stops ends the stream as the attempt's end would: ask which it was.
            let task = try api.call("GET", "/api/tasks/" + TaskAPIClient.segment(id))
            let state = (task["attempts"] as? [[String: Any]] ?? [])
                .first { ($0["number"] as? NSNumber)?.intValue == attempt }?["state"] as? String
            if state == "running" {
                throw TaskAPIError.badResponse("the output ended while attempt \(attempt!) still runs "
                                               + "(is the daemon stopping?); run the command again to go on")
            }
        }
    }

    // MARK: - cancel, retry

    enum Cancel {
        static let table = oneTask("cancel", "Cancels a task: a queued one at once, a running one by tearing its attempt "
                                   + "down (SIGTERM, grace, SIGKILL).")

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, OneTask(), console) else { return }
            let id = try s.requireID()
            let answer = try client(s.connection).call("POST", "/api/tasks/\(TaskAPIClient.segment(id))/cancel", body: Data())
            let state = answer["state"] as? String ?? "cancelled"
            if state == "cancelling", let a = answer["attempt"] as? NSNumber {
                console.print("\(TaskTables.safe(id)): cancelling (attempt \(a.intValue) is being torn down)")
            } else {
                console.print("\(TaskTables.safe(id)): \(TaskTables.safe(state))")
            }
        }
    }

    enum Retry {
        static let table = oneTask("retry", "Queues a finished task (failed, cancelled or completed) again under the same "
                                   + "id; its earlier attempts are kept.")

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, OneTask(), console) else { return }
            let id = try s.requireID()
            let answer = try client(s.connection).call("POST", "/api/tasks/\(TaskAPIClient.segment(id))/retry", body: Data())
            console.print("\(TaskTables.safe(id)): \(TaskTables.safe(answer["state"] as? String ?? "queued"))")
        }
    }

    // MARK: - submit

    enum Submit {
        struct State: TaskAPIConnectionState {
            var connection = TaskAPIEndpoint.Options()
            var file: String?
            var json = false
        }

        static let table = OptionTable<State>(
            usage: ["coven-supervisor tasks submit [options] FILE"],
            about: "Submits the task in FILE (JSON, as docs/contract.md describes; - reads stdin) and prints its id.",
            options: [.flag("--json", help: "print the daemon's JSON answer") { $0.json = true }]
                + OptionTable<State>.Option.connection,
            operands: .each("FILE") { s, v in
                guard s.file == nil else { throw CLI.UsageError("one FILE only") }
                s.file = v
            })

        static func run(_ args: [String], _ console: Console) throws {
            guard let s = try parse(table, args, State(), console) else { return }
            guard let file = s.file else { throw CLI.UsageError("no FILE given") }
            let body: Data
            if file == "-" {
                body = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: file) else {
                    throw CLI.UsageError("cannot read \(file): \(String(cString: strerror(errno)))")
                }
                body = d
            }
            let answer = try client(s.connection).call("POST", "/api/tasks", body: body)
            if s.json { console.out(json(answer)) } else { console.print(TaskTables.string(answer, "task_id")) }
        }
    }
}
