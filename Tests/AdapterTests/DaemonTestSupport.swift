import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor
import Sandbox

/// A real TaskStore on a temporary directory, a TaskSupervisor that is never started
/// (submit and cancel work on the store; nothing runs), and the daemon's routes on a
/// real HTTPServer on 127.0.0.1.
final class DaemonRouteFixture {
    static let secret = "it's a secret to everybody"
    static let familiars = [FamiliarConfig(id: "cody", displayName: "Cody", botUsername: "coven-cody[bot]")]

    let dir: String
    let store: TaskStore
    let supervisor: TaskSupervisor
    let metrics = DaemonMetrics()
    let server: HTTPServer
    let client = HTTPClient(keepAlive: false)
    let taskAPI: TaskAPI
    private let announcedBox = AnnouncedTasks()
    /// The structured log lines the webhook endpoint wrote.
    let events = LoggedEvents()

    /// - Parameters:
    ///   - apiToken: the task API's token; nil leaves the API disabled.
    ///   - busyTimeout: the store's wait for a lock another connection holds.
    ///   - limits: the server's limits (short grace and linger by default).
    ///   - outputStreams: how many attempt outputs may be streamed at once.
    init(apiToken: String? = "api-token-for-tests", busyTimeout: TimeInterval = 5,
         limits: HTTPServerLimits = HTTPServerLimits(shutdownGrace: 2, lingerTimeout: 1),
         outputStreams: Int = AttemptOutputStreamer.defaultMaxStreams) throws {
        dir = NSTemporaryDirectory() + "coven-daemon-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        store = try TaskStore(path: dir + "/coven.db", busyTimeout: busyTimeout)
        let runner = try AttemptRunner(config: AttemptConfig(runtime: ["/bin/true"], attemptsDirectory: dir + "/attempts"))
        supervisor = TaskSupervisor(store: store, runner: runner, tokens: nil, publisher: NullPublisher())
        let announced = announcedBox, events = self.events
        let webhooks = WebhookEndpoint(secret: Array(Self.secret.utf8), familiars: Self.familiars, store: store,
                                       metrics: metrics, log: { events.append($0, $1) },
                                       announce: { announced.append($0.id) })
        let api = TaskAPI(token: apiToken, store: store, supervisor: supervisor,
                          output: AttemptOutputStreamer(store: store, live: runner.liveOutputs, maxStreams: outputStreams,
                                                        pollInterval: 0.02))
        taskAPI = api
        var router = Router()
        webhooks.register(on: &router)
        api.register(on: &router)
        let store = self.store, metrics = self.metrics
        router.get("/metrics") { _ in .text(200, metrics.render(store: store)) }
        router.get("/healthz") { _ in .json(200, ["ok": true]) }
        server = HTTPServer(host: "127.0.0.1", port: 0, limits: limits, router: router)
        try server.start()
    }

    deinit {
        server.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    var announced: [String] { announcedBox.ids }
    /// The endpoint's log lines: "event key=value …", keys sorted.
    /// The webhook log lines as "event key=value ..." (fields sorted).
    var logLines: [String] {
        events.all.map { ([$0.event] + $0.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(server.port)\(path)" }

    /// Delivers `body` as GitHub would: signed with the shared secret unless `signature`
    /// says otherwise (`.some(nil)` leaves the header out).
    func deliver(event: String?, delivery: String?, body: String, signature: String?? = nil) throws -> HTTPClientResponse {
        let data = Data(body.utf8)
        var headers: HTTPHeaders = ["Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"]
        if let event { headers.add("X-GitHub-Event", event) }
        if let delivery { headers.add("X-GitHub-Delivery", delivery) }
        switch signature {
        case .none: headers.add("X-Hub-Signature-256", WebhookSignature.sign(body: data, secret: Array(Self.secret.utf8)))
        case .some(.some(let s)): headers.add("X-Hub-Signature-256", s)
        case .some(.none): break
        }
        return try client.post(url("/webhook"), body: data, headers: headers)
    }

    /// The head of a signed delivery of `body` as raw HTTP, framed by `framing` (e.g.
    /// `"Content-Length: 12"` or `"Transfer-Encoding: chunked"`).
    func rawDeliveryHead(event: String, delivery: String, body: Data, framing: String, signature: String? = nil) -> String {
        let sig = signature ?? WebhookSignature.sign(body: body, secret: Array(Self.secret.utf8))
        return "POST /webhook HTTP/1.1\r\nHost: coven\r\nContent-Type: application/json\r\n"
            + "X-GitHub-Event: \(event)\r\nX-GitHub-Delivery: \(delivery)\r\nX-Hub-Signature-256: \(sig)\r\n\(framing)\r\n\r\n"
    }

    func api(_ method: String, _ path: String, token: String? = "api-token-for-tests", body: String? = nil) throws -> HTTPClientResponse {
        var headers: HTTPHeaders = [:]
        if let token { headers.add("Authorization", "Bearer \(token)") }
        if body != nil { headers.add("Content-Type", "application/json") }
        return try client.request(method, url(path), headers: headers, body: body.map { Data($0.utf8) } ?? (method == "POST" ? Data() : nil))
    }

    /// A task file as run-task and the task API take it.
    static func taskJSON(id: String? = nil, cloneURL: String = "https://example.invalid/acme/widget.git") -> String {
        let idPart = id.map { "\"id\": \(WebhookFixtures.q($0))," } ?? ""
        return """
        {\(idPart) "repo": {"owner": "acme", "name": "widget", "clone_url": \(WebhookFixtures.q(cloneURL)), "default_branch": "main"},
         "task": {"kind": "fix_issue", "issue_number": 7, "issue_title": "Broken", "issue_body": "Fix it"},
         "familiar": {"id": "cody", "display_name": "Cody", "skills": []}}
        """
    }
}

final class AnnouncedTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ id: String) { lock.lock(); list.append(id); lock.unlock() }
    var ids: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

/// Structured log events, as (event, fields), in order.
final class LoggedEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [(String, [String: String])] = []
    func append(_ event: String, _ fields: [String: String]) { lock.lock(); list.append((event, fields)); lock.unlock() }
    var all: [(event: String, fields: [String: String])] { lock.lock(); defer { lock.unlock() }; return list.map { ($0.0, $0.1) } }
    func named(_ event: String) -> [[String: String]] { all.filter { $0.event == event }.map(\.fields) }
}

extension HTTPClientResponse {
    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
    }
}

/// Polls `condition` until it holds or `timeout` passes (no fixed sleeps).
func eventually(timeout: TimeInterval, interval: TimeInterval = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return try condition()
}

/// A test case with a scratch directory and a minimal daemon configuration in it.
class DaemonAssemblyTestCase: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-assembly-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func config(tokenPath: String? = nil) -> DaemonConfig {
        DaemonConfig(listen: .init(host: "127.0.0.1", port: 0), stateDirectory: dir + "/state",
                     worker: .init(runtime: ["/bin/true"]), api: .init(tokenPath: tokenPath))
    }

    func quietOptions() -> DaemonOptions {
        DaemonOptions(log: { _, _ in }, publicationLog: FileHandle.nullDevice)
    }
}

/// Runs a program to its end: its exit status and stdout (stderr too, with `mergeStderr`).
func runToEnd(_ executable: String, _ args: [String], mergeStderr: Bool = false) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = mergeStderr ? out : FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
