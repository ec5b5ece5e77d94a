import Foundation
import HTTP
import Supervisor

/// The task API behind a bearer token (`Authorization: Bearer <token>`):
///
/// - `POST /api/tasks`: a TaskSpec as JSON (run-task's task file format) → 201
///   `{"ok":true,"task_id":…}`; 400 when it does not decode or is refused; 409 when the id
///   exists
/// - `GET /api/tasks[?state=queued|running|completed|failed|cancelled][&limit=N]` →
///   `{"tasks":[…]}`, newest first
/// - `GET /api/tasks/{id}` → the task as `TaskJSON` (attempts, exit reports, output tails)
/// - `POST /api/tasks/{id}/cancel` → 200 cancelled, 202 cancelling (the sandbox is being
///   torn down), 409 already finished, 404 unknown
/// - `POST /api/tasks/{id}/retry` → 202 `{"ok":true,"task_id":…,"state":"queued"}` for a
///   finished task (queued again under its id, earlier attempts kept, budgets afresh);
///   409 `{"ok":false,"error":…}` while it is queued or running; 404 unknown
/// - `GET /api/tasks/{id}/attempts/{n}/output?stream=stdout|stderr&follow=1` → the
///   attempt's redacted output, streamed (`AttemptOutputStreamer`)
/// - `GET /api/installations/{id}/usage[?days=N]` → the installation's usage per UTC day
///   and its limits (`usage`, in TaskAPI+Usage.swift)
///
/// Closed, never open: with no token configured every route answers 403 "task API
/// disabled". A missing or wrong token → 401. Tokens are compared in constant time.
public final class TaskAPI: Sendable {
    public typealias Log = @Sendable (String, [String: String]) -> Void

    let token: [UInt8]?
    let store: TaskStore
    private let supervisor: TaskSupervisor
    private let log: Log
    /// The attempt output streams (shared with the dashboard, so the bound is one).
    public let output: AttemptOutputStreamer

    /// - Parameters:
    ///   - token: the bearer token; nil disables the API (403 everywhere).
    ///   - output: the output streamer; by default one over the supervisor's live outputs.
    public init(token: String?, store: TaskStore, supervisor: TaskSupervisor, output: AttemptOutputStreamer? = nil,
                log: @escaping Log = { _, _ in }) {
        if let t = token?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty {
            self.token = Array(t.utf8)
        } else {
            self.token = nil
        }
        self.store = store
        self.supervisor = supervisor
        self.output = output ?? AttemptOutputStreamer(store: store, live: supervisor.runner.liveOutputs)
        self.log = log
    }

    /// Reads the token from `path` (trimmed; must not be empty). Errors name the path only.
    public static func readToken(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonError("task API token file \(path) is not readable: \(String(cString: strerror(errno)))")
        }
        let t = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty, !t.contains("\n") else { throw DaemonError("task API token file \(path) is empty or has several lines") }
        return t
    }

    public var isEnabled: Bool { token != nil }

    public func register(on router: inout Router) {
        // POST bodies are refused from the head when the token is wrong: never buffered.
        let head: Router.HeadHandler = { [self] r in refusal(r).map { .respond($0) } ?? .proceed }
        router.post("/api/tasks", head: head) { [self] r in try guarded(r, submit) }
        router.get("/api/tasks") { [self] r in try guarded(r, list) }
        router.get("/api/tasks/{id}") { [self] r in try guarded(r, show) }
        router.post("/api/tasks/{id}/cancel", head: head) { [self] r in try guarded(r, cancel) }
        router.post("/api/tasks/{id}/retry", head: head) { [self] r in try guarded(r, retry) }
        router.get("/api/tasks/{id}/attempts/{n}/output") { [self] r in try guarded(r, output.response) }
        router.get("/api/installations/{id}/usage") { [self] r in try guarded(r, usage) }
    }

    // MARK: - Authorization

    /// 403 when the API is off, 401 without the right token; nil when authorized.
    private func refusal(_ request: HTTPRequest) -> HTTPResponse? {
        guard let token else {
            return .json(403, ["ok": false, "error": "task API disabled: no api.token_path configured"])
        }
        guard let given = Self.bearer(request.headers["Authorization"]), ConstantTime.equals(Array(given.utf8), token) else {
            log("api_unauthorized", ["method": request.method, "path": request.path, "remote": request.remoteAddress])
            return .json(401, ["ok": false, "error": "missing or wrong bearer token"],
                         headers: ["WWW-Authenticate": "Bearer realm=\"coven-supervisor\""])
        }
        return nil
    }

    private func guarded(_ request: HTTPRequest, _ body: (HTTPRequest) throws -> HTTPResponse) throws -> HTTPResponse {
        if let refused = refusal(request) { return refused }
        do {
            return try body(request)
        } catch let e as HTTPError {
            return .json(e.status, ["ok": false, "error": e.message])
        } catch StoreError.taskNotFound(let id) {
            return .json(404, ["ok": false, "error": "no task \(id)"])
        } catch {
            log("api_error", ["method": request.method, "path": request.path, "error": Redactor.redactShapes("\(error)")])
            return .json(500, ["ok": false, "error": "the task store failed; try again"])
        }
    }

    static func bearer(_ header: String?) -> String? {
        guard let h = header?.trimmingCharacters(in: .whitespaces) else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let t = parts[1].trimmingCharacters(in: .whitespaces)
        return t.isEmpty ? nil : t
    }

    // MARK: - Routes

    private func submit(_ request: HTTPRequest) throws -> HTTPResponse {
        let spec = try accept(request.body)
        return .json(201, ["ok": true, "task_id": spec.id], headers: ["Location": "/api/tasks/" + spec.id])
    }

    /// Decodes, checks and queues a task (the dashboard's form submits through here too).
    /// Throws `HTTPError` 400 (invalid) and 409 (the id exists).
    func accept(_ body: Data) throws -> TaskSpec {
        var spec: TaskSpec
        do {
            spec = try JSONDecoder().decode(TaskSpec.self, from: body)
        } catch {
            throw HTTPError(400, "invalid task: \(Self.describe(error))")
        }
        spec.source = .api
        // The same check as webhook tasks get: nothing is queued that no attempt could run.
        do { try TaskValidation.validate(spec) } catch { throw HTTPError(400, error.description) }
        do {
            try supervisor.submit(spec)
        } catch StoreError.duplicateTask(let id) {
            throw HTTPError(409, "task \(id) exists already")
        }
        log("api_task_submitted", ["task": spec.id, "repo": "\(spec.repo.owner)/\(spec.repo.name)", "kind": spec.kind.name])
        return spec
    }

    private func list(_ request: HTTPRequest) throws -> HTTPResponse {
        var state: TaskState?
        if let s = request.queryValue("state"), !s.isEmpty {
            guard let st = TaskState(rawValue: s) else {
                throw HTTPError(400, "state must be one of \(TaskState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = st
        }
        var limit = 100
        if let l = request.queryValue("limit") {
            guard let n = Int(l), n >= 1, n <= 1000 else { throw HTTPError(400, "limit must be a number from 1 to 1000") }
            limit = n
        }
        var repo: (owner: String, name: String)?
        if let r = request.queryValue("repo"), !r.isEmpty {
            let parts = r.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw HTTPError(400, "repo must be OWNER/NAME") }
            repo = (String(parts[0]), String(parts[1]))
        }
        let records = try store.list(state: state, repo: repo, limit: limit)
        return .json(200, ["ok": true, "tasks": records.map(Self.summary)])
    }

    private func show(_ request: HTTPRequest) throws -> HTTPResponse {
        let id = request.parameter("id") ?? ""
        guard let detail = try store.task(id: id) else { throw HTTPError(404, "no task \(id)") }
        return .json(200, data: TaskJSON.data(detail))
    }

    private func cancel(_ request: HTTPRequest) throws -> HTTPResponse {
        let id = request.parameter("id") ?? ""
        guard try store.taskExists(id: id) else { throw HTTPError(404, "no task \(id)") }
        switch try cancelTask(id) {
        case .cancelled:
            return .json(200, ["ok": true, "task_id": id, "state": TaskState.cancelled.rawValue])
        case .running(let attempt):
            return .json(202, ["ok": true, "task_id": id, "state": "cancelling", "attempt": attempt])
        case .alreadyFinished(let state):
            return .json(409, ["ok": false, "task_id": id, "state": state.rawValue, "error": "task \(id) already \(state.rawValue)"])
        }
    }

    /// Cancels through the supervisor, logged (the dashboard's button too).
    func cancelTask(_ id: String) throws -> CancelResult {
        let result = try supervisor.cancel(taskID: id)
        log("api_task_cancel", ["task": id, "result": "\(result)"])
        return result
    }

    /// Retries through the supervisor, logged (the dashboard's button too).
    func retryTask(_ id: String) throws -> RetryResult {
        let result = try supervisor.retry(taskID: id)
        log("api_task_retry", ["task": id, "result": result == .queued ? "queued" : "refused"])
        return result
    }

    private func retry(_ request: HTTPRequest) throws -> HTTPResponse {
        let id = request.parameter("id") ?? ""
        switch try retryTask(id) {
        case .queued:
            return .json(202, ["ok": true, "task_id": id, "state": TaskState.queued.rawValue])
        case .notFinished(let state):
            return .json(409, ["ok": false, "error": "task \(id) is \(state.rawValue): only a finished task can be retried"])
        }
    }

    /// One line of the list: identifiers and state, no bodies.
    static func summary(_ r: TaskRecord) -> [String: Any] {
        var o: [String: Any] = [
            "id": r.id,
            "state": r.state.rawValue,
            "created_at": timestamp(r.createdAt),
            "updated_at": timestamp(r.updatedAt),
            "attempt_count": r.attemptCount,
            "repo": "\(r.spec.repo.owner)/\(r.spec.repo.name)",
            "kind": r.spec.kind.name,
            "number": r.spec.kind.targetNumber,
            "familiar": r.spec.familiar.id,
        ]
        if let d = r.disposition { o["disposition"] = d.rawValue }
        if let reason = r.finalReason { o["reason"] = reason }
        return o
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    /// A decoding error as a key path and what is wrong (never the value).
    public static func describe(_ error: Error) -> String {
        func path(_ keys: [CodingKey]) -> String { keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let k, let ctx):
            return "missing key '\(path(ctx.codingPath + [k]))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(path(ctx.codingPath))'"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "'\(path(ctx.codingPath))': \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A daemon start-up or wiring failure, with a message for the operator.
public struct DaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
