import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import TaskCommands
import Supervisor
import CovenCommands

/// `coven-supervisor tasks …` against a real listener and store: what each command prints,
/// and its exit status (0 ok, 1 refused, 2 usage, 3 unreachable).
final class TasksCommandTests: XCTestCase {
    final class Output: Sendable {
        let out = Mutex(Data()), err = Mutex(Data())
        var console: Console { Console(out: { d in self.out.withLock { $0.append(d) } }, err: { d in self.err.withLock { $0.append(d) } }) }
        var stdout: String { String(decoding: out.withLock { $0 }, as: UTF8.self) }
        var stderr: String { String(decoding: err.withLock { $0 }, as: UTF8.self) }
    }

    var fixture: DaemonRouteFixture!
    var tokenFile: String!

    override func setUpWithError() throws {
        fixture = try DaemonRouteFixture()
        tokenFile = fixture.dir + "/api-token"
        try "api-token-for-tests\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
    }

    override func tearDown() { fixture = nil }

    /// Runs `tasks ARGS` against the fixture's daemon.
    func tasks(_ args: String..., url: String? = nil) -> (status: TasksCommand.Status, out: String, err: String) {
        let o = Output()
        let connection = ["--url", url ?? fixture.url(""), "--token-file", tokenFile!]
        // Connection options go after the subcommand's own.
        let status = TasksCommand.run(args + (args.first.map { ["list", "show", "logs", "cancel", "retry", "submit"].contains($0) } == true ? connection : []),
                                      console: o.console)
        return (status, o.stdout, o.stderr)
    }

    func submit(id: String, owner: String = "acme", title: String = "Broken") throws {
        let json = DaemonRouteFixture.taskJSON(id: id).replacingOccurrences(of: "\"acme\"", with: WebhookFixtures.q(owner))
            .replacingOccurrences(of: "\"Broken\"", with: WebhookFixtures.q(title))
        let r = try fixture.api("POST", "/api/tasks", body: json)
        XCTAssertEqual(r.status, 201, "fixture task \(id) not accepted: \(r.text ?? "")")
    }

    func testExitStatusSaysWhatWentWrong() throws {
        let cases: [(args: [String], url: String?, status: TasksCommand.Status, why: String)] = [
            (["list"], nil, .ok, "a listing succeeds"),
            (["show", "no-such-task"], nil, .refused, "a 404 is the daemon refusing"),
            (["list", "--limit", "0"], nil, .usage, "a bad option value is a usage error"),
            (["frobnicate"], nil, .usage, "an unknown command is a usage error"),
            (["show"], nil, .usage, "a missing ID is a usage error"),
            (["list"], "http://127.0.0.1:1", .unreachable, "nothing listening is unreachable"),
        ]
        for c in cases {
            let o = Output()
            let args = c.args.first == "frobnicate" ? c.args
                : c.args + ["--url", c.url ?? fixture.url(""), "--token-file", tokenFile]
            XCTAssertEqual(TasksCommand.run(args, console: o.console), c.status, "\(c.args): \(c.why); stderr: \(o.stderr)")
        }
    }

    func testAWrongTokenIsRefusedNotUnreachable() throws {
        try "not-the-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let r = tasks("list")
        XCTAssertEqual(r.status, .refused, r.err)
        XCTAssertTrue(r.err.contains("HTTP 401"), "the refusal names the status: \(r.err)")
        XCTAssertFalse(r.err.contains("not-the-token"), "the token never appears in a message: \(r.err)")
    }

    func testListShowsEachTaskInATable() throws {
        try submit(id: "t-one")
        try submit(id: "t-two")
        let r = tasks("list")
        XCTAssertEqual(r.status, .ok, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("ID ") ?? false, "a header row first: \(r.out)")
        XCTAssertTrue(lines.count == 3 && lines[1].hasPrefix("t-two ") && lines[2].hasPrefix("t-one "),
                      "one row per task, newest first: \(r.out)")
        XCTAssertTrue(lines[1].contains("queued") && lines[1].contains("acme/widget") && lines[1].contains("issue #7"),
                      "state, repository and trigger: \(lines[1])")
    }

    func testListFiltersByStateAndRepositoryOnTheServer() throws {
        try submit(id: "t-acme")
        try submit(id: "t-other", owner: "other")
        _ = tasks("cancel", "t-acme")
        let byRepo = tasks("list", "--repo", "other/widget", "--json")
        let ids = ((try? JSONSerialization.jsonObject(with: Data(byRepo.out.utf8))) as? [[String: Any]])?.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ["t-other"], "--repo keeps that repository's tasks: \(byRepo.out) \(byRepo.err)")
        let byState = tasks("list", "--state", "cancelled")
        XCTAssertTrue(byState.out.contains("t-acme") && !byState.out.contains("t-other"), "--state keeps that state: \(byState.out)")
    }

    func testShowListsTheTaskAndEscapesWhatATerminalWouldInterpret() throws {
        try submit(id: "t-hostile", title: "Broken\u{1b}]0;pwned\u{07}")
        let r = tasks("show", "t-hostile")
        XCTAssertEqual(r.status, .ok, r.err)
        XCTAssertTrue(r.out.contains("state       queued"), "the task's state: \(r.out)")
        XCTAssertFalse(r.out.contains("\u{1b}"), "an escape sequence from an issue title must not reach the terminal")
        XCTAssertTrue(r.out.contains("Broken\\x1b]0;pwned\\x07"), "it is shown escaped: \(r.out)")
    }

    func testCancelOfAQueuedTaskCancelsIt() throws {
        try submit(id: "t-cancel")
        let r = tasks("cancel", "t-cancel")
        XCTAssertEqual(r.status, .ok, r.err)
        XCTAssertEqual(r.out, "t-cancel: cancelled\n")
        XCTAssertEqual(try fixture.store.task(id: "t-cancel")?.record.state, .cancelled, "the store has it cancelled")
    }

    func testSubmitQueuesTheFileAndPrintsTheID() throws {
        let file = fixture.dir + "/task.json"
        try DaemonRouteFixture.taskJSON(id: "t-submitted").write(toFile: file, atomically: true, encoding: .utf8)
        let r = tasks("submit", file)
        XCTAssertEqual(r.status, .ok, r.err)
        XCTAssertEqual(r.out, "t-submitted\n")
        XCTAssertEqual(try fixture.store.task(id: "t-submitted")?.record.state, .queued)
    }

    func testSubmitOfAnInvalidTaskIsRefusedWithTheDaemonsReason() throws {
        let file = fixture.dir + "/bad.json"
        try "{\"repo\": 1}".write(toFile: file, atomically: true, encoding: .utf8)
        let r = tasks("submit", file)
        XCTAssertEqual(r.status, .refused)
        XCTAssertTrue(r.err.contains("HTTP 400") && r.err.contains("invalid task"), "the daemon's reason is passed on: \(r.err)")
    }
}

/// Where `tasks` finds the daemon and its token.
final class TaskAPIEndpointTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-endpoint-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "from-file\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testTheConfigGivesTheListenAddressAndTheTokenFile() throws {
        let config = """
        {"listen": ":9123", "state_dir": "\(dir!)/state", "worker": {"runtime": ["/bin/true"]},
         "api": {"token_path": "\(dir!)/token"}}
        """
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        var o = TaskAPIEndpoint.Options()
        o.configPath = dir + "/config.json"
        let e = try TaskAPIEndpoint.resolve(o, environment: [:])
        XCTAssertEqual(e, TaskAPIEndpoint(baseURL: "http://127.0.0.1:9123", token: "from-file"),
                       "all interfaces are reached through loopback, and the token comes from api.token_path")
    }

    func testTheEnvironmentTokenWinsOverFilesButNotOverTheFlag() throws {
        var o = TaskAPIEndpoint.Options()
        o.stateDir = dir + "/missing"
        XCTAssertEqual(try TaskAPIEndpoint.resolve(o, environment: ["COVEN_API_TOKEN": "from-env"]).token, "from-env")
        o.tokenFile = dir + "/token"
        XCTAssertEqual(try TaskAPIEndpoint.resolve(o, environment: ["COVEN_API_TOKEN": "from-env"]).token, "from-file",
                       "--token-file is explicit, so it wins")
    }

    func testLocalModeDefaultsToTheStateDirectorysToken() throws {
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        try "local\n".write(toFile: dir + "/state/api-token", atomically: true, encoding: .utf8)
        var o = TaskAPIEndpoint.Options()
        o.stateDir = dir + "/state"
        XCTAssertEqual(try TaskAPIEndpoint.resolve(o, environment: [:]), TaskAPIEndpoint(baseURL: "http://127.0.0.1:8787", token: "local"))
    }

    func testAMissingTokenIsAUsageErrorThatSaysWhereItLooked() {
        var o = TaskAPIEndpoint.Options()
        o.stateDir = dir + "/nowhere"
        XCTAssertThrowsError(try TaskAPIEndpoint.resolve(o, environment: [:])) { e in
            XCTAssertTrue(((e as? CLI.UsageError)?.message ?? "").contains(dir + "/nowhere/api-token"), "\(e)")
        }
    }
}

/// `tasks logs` and `tasks retry` against the daemon's output stream and retry route.
final class TasksLogsCommandTests: XCTestCase {
    func run(_ f: DaemonRouteFixture, _ args: [String]) throws -> (status: TasksCommand.Status, out: String, err: String) {
        try Self.run(url: f.url(""), tokenFile: tokenFile(f), args)
    }

    func tokenFile(_ f: DaemonRouteFixture) throws -> String {
        let path = f.dir + "/api-token"
        try "api-token-for-tests\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func run(url: String, tokenFile: String, _ args: [String]) -> (status: TasksCommand.Status, out: String, err: String) {
        let o = TasksCommandTests.Output()
        let status = TasksCommand.run(args + ["--url", url, "--token-file", tokenFile], console: o.console)
        return (status, o.stdout, o.stderr)
    }

    func testLogsOfAFinishedAttemptPrintsItsRedactedOutput() throws {
        let f = try DaemonRouteFixture()
        let a = try DaemonAttemptOutputTests.RunningAttempt(f)
        a.write("hello \(DaemonAttemptOutputTests.secret)\n")
        try a.finish()
        let r = try run(f, ["logs", a.id])
        XCTAssertEqual(r.status, .ok, r.err)
        XCTAssertTrue(r.out.hasPrefix("hello "), "the attempt's stdout: \(r.out)")
        XCTAssertFalse(r.out.contains(DaemonAttemptOutputTests.secret), "redacted as stored: \(r.out)")
    }

    func testLogsFollowPrintsWhatARunningAttemptWritesUntilItEnds() throws {
        let f = try DaemonRouteFixture()
        let a = try DaemonAttemptOutputTests.RunningAttempt(f)
        a.write("first line\n")
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(TasksCommand.Status, String)?>(nil)
        let (url, token, id) = (f.url(""), try tokenFile(f), a.id)
        Thread {
            let r = Self.run(url: url, tokenFile: token, ["logs", "-f", id])
            result.withLock { $0 = (r.status, r.out) }
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 0.5), .timedOut, "-f must keep following a running attempt")
        a.write("second line\n")
        try a.finish()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "-f must end when the attempt ends")
        let r = try XCTUnwrap(result.withLock { $0 })
        XCTAssertEqual(r.0, .ok)
        XCTAssertEqual(r.1, "first line\nsecond line\n", "everything the attempt wrote, once")
    }

    func testRetryQueuesAFinishedTaskAgain() throws {
        let f = try DaemonRouteFixture()
        let a = try DaemonAttemptOutputTests.RunningAttempt(f)
        try a.finish()
        let r = try run(f, ["retry", a.id])
        XCTAssertEqual(r.status, .ok, r.err)
        XCTAssertEqual(r.out, "\(a.id): queued\n")
        let again = try run(f, ["retry", a.id])
        XCTAssertEqual(again.status, .refused, "a queued task cannot be retried: \(again.err)")
    }
}
