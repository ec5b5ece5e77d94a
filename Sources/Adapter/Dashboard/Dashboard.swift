import Foundation
import HTTP
import Supervisor

/// The web dashboard served by the daemon at `/` (docs/operations.md, "The dashboard"):
/// the task list with the health panel, a page per task (attempts, exit reports, output,
/// live while it runs, egress), cancel, retry and submit.
///
/// Routes: `GET /`, `GET /login`, `POST /login`, `POST /logout`, `POST /tasks`,
/// `GET /tasks/{id}`, `POST /tasks/{id}/cancel`, `POST /tasks/{id}/retry`,
/// `GET /ui/tasks/{id}/attempts/{n}/output` (the output stream for the page's script),
/// and the two assets.
///
/// Hardening: pages need a login (`DashboardSessions`; logged out, pages answer 303 to
/// `/login` and `/ui/` requests 401); every POST carries the session's CSRF token (403
/// without it); every response carries a strict Content-Security-Policy (no inline
/// script or style, nothing from elsewhere, no framing) and `nosniff`; everything shown
/// is escaped (`HTML`). The API token is only ever read from the login form.
public final class Dashboard: Sendable {
    public typealias Log = @Sendable (String, [String: String]) -> Void

    static let contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    private let api: TaskAPI
    private let store: TaskStore
    private let supervisor: TaskSupervisor
    private let metrics: DaemonMetrics
    let sessions: DashboardSessions
    private let demoTask: @Sendable () -> String?
    /// `https://github.com` (or a GitHub Enterprise host) in GitHub mode: links are made.
    private let gitHubWeb: String?
    private let linksCheckRuns: Bool
    private let mode: String
    private let started = Date()
    private let log: Log

    /// - Parameters:
    ///   - api: the task API whose token logs in, and through which tasks are submitted,
    ///     cancelled and retried (the same checks and log events).
    ///   - gitHubWeb: the web address of the configured GitHub, for links; nil without one.
    ///   - linksCheckRuns: link a task's Check Run (kept in the store) from its page.
    ///   - demoTask: what the submit form is filled with (local mode's demo task).
    public init(api: TaskAPI, store: TaskStore, supervisor: TaskSupervisor, metrics: DaemonMetrics,
                sessionLifetime: Duration = .seconds(8 * 3600), gitHubWeb: String? = nil, linksCheckRuns: Bool = false,
                mode: String = "local", demoTask: @escaping @Sendable () -> String? = { nil }, log: @escaping Log = { _, _ in }) {
        self.api = api
        self.store = store
        self.supervisor = supervisor
        self.metrics = metrics
        self.sessions = DashboardSessions(lifetime: sessionLifetime.seconds)
        self.gitHubWeb = gitHubWeb
        self.linksCheckRuns = linksCheckRuns
        self.mode = mode
        self.demoTask = demoTask
        self.log = log
    }

    /// The web address of a GitHub API base: `https://api.github.com` → `https://github.com`,
    /// `https://HOST/api/v3` → `https://HOST`, `https://api.NAME` → `https://NAME`.
    public static func gitHubWeb(apiBase: URL) -> String? {
        guard let scheme = apiBase.scheme, var host = apiBase.host else { return nil }
        if host.hasPrefix("api.") { host = String(host.dropFirst(4)) }
        return "\(scheme)://\(host)" + (apiBase.port.map { ":\($0)" } ?? "")
    }

    /// `/`, unless a client asks for JSON only (the service description `serve` answers
    /// when the dashboard is off).
    public func register(on router: inout Router, serviceDescription: @escaping @Sendable () -> HTTPResponse) {
        router.get("/") { [self] r in
            let accept = r.headers["Accept"]?.lowercased() ?? ""
            if accept.contains("application/json") && !accept.contains("text/html") { return serviceDescription() }
            return page(r, list)
        }
        router.get("/login") { [self] r in loginForm(r) }
        router.post("/login") { [self] r in login(r) }
        router.post("/logout") { [self] r in form(r) { id, _, _ in logout(id) } }
        router.post("/tasks") { [self] r in form(r) { _, _, f in try submit(f) } }
        router.get("/tasks/{id}") { [self] r in page(r, task) }
        router.post("/tasks/{id}/cancel") { [self] r in form(r) { _, _, _ in try act(r, cancel: true) } }
        router.post("/tasks/{id}/retry") { [self] r in form(r) { _, _, _ in try act(r, cancel: false) } }
        router.get("/ui/tasks/{id}/attempts/{n}/output") { [self] r in output(r) }
        router.get(DashboardAssets.cssPath) { _ in DashboardAssets.response(DashboardAssets.css, type: "text/css; charset=utf-8") }
        router.get(DashboardAssets.jsPath) { _ in
            DashboardAssets.response(DashboardAssets.js, type: "text/javascript; charset=utf-8")
        }
    }

    // MARK: - Responses

    /// The headers every dashboard response carries.
    static func harden(_ r: inout HTTPResponse) {
        r.headers.replaceOrAdd("Content-Security-Policy", contentSecurityPolicy)
        r.headers.replaceOrAdd("X-Content-Type-Options", "nosniff")
        r.headers.replaceOrAdd("X-Frame-Options", "DENY")
        r.headers.replaceOrAdd("Referrer-Policy", "no-referrer")
        if !r.headers.contains("Cache-Control") { r.headers.add("Cache-Control", "no-store") }
    }

    static func html(_ status: Int, _ body: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var r = HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
        r.headers.replaceOrAdd("Content-Type", "text/html; charset=utf-8")
        harden(&r)
        return r
    }

    static func redirect(_ location: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var r = HTTPResponse(status: 303, headers: headers)
        r.headers.replaceOrAdd("Location", location)
        harden(&r)
        return r
    }

    // MARK: - Auth

    /// A page: the session's, or 303 to the login form.
    private func page(_ r: HTTPRequest, _ body: (HTTPRequest, String) throws -> HTTPResponse) -> HTTPResponse {
        guard let (_, session) = sessions.session(for: r) else { return Self.redirect("/login") }
        do {
            return try body(r, session.csrf)
        } catch {
            log("api_error", ["method": r.method, "path": r.path, "error": Redactor.redactShapes("\(error)")])
            return Self.html(500, DashboardPages.message(title: "Error", text: "The task store failed; try again.", csrf: session.csrf))
        }
    }

    /// A form post: refused (403) unless it carries the CSRF token of a live session.
    private func form(_ r: HTTPRequest, _ body: (String, DashboardSessions.Session, FormBody) throws -> HTTPResponse) -> HTTPResponse {
        let f = FormBody(r)
        guard let (id, session) = sessions.session(for: r), let given = f["csrf"],
              ConstantTime.equals(Array(given.utf8), Array(session.csrf.utf8)) else {
            log("dashboard_refused", ["method": r.method, "path": r.path, "remote": r.remoteAddress, "reason": "csrf"])
            return Self.html(403, DashboardPages.message(title: "Refused", text: "This form is stale or did not come from the dashboard (no valid CSRF token). Reload the page and try again.",
                                                         csrf: nil, link: ("Go to the dashboard", "/")))
        }
        do {
            return try body(id, session, f)
        } catch {
            log("api_error", ["method": r.method, "path": r.path, "error": Redactor.redactShapes("\(error)")])
            return Self.html(500, DashboardPages.message(title: "Error", text: "The task store failed; try again.", csrf: session.csrf))
        }
    }

    private func loginForm(_ r: HTTPRequest) -> HTTPResponse {
        if sessions.session(for: r) != nil { return Self.redirect("/") }
        let csrf = DashboardSessions.randomToken()
        return Self.html(200, DashboardPages.login(csrf: csrf, error: nil, available: api.token != nil),
                         headers: ["Set-Cookie": DashboardSessions.loginCookieHeader(csrf, secure: DashboardSessions.isSecure(r))])
    }

    private func login(_ r: HTTPRequest) -> HTTPResponse {
        let f = FormBody(r)
        let secure = DashboardSessions.isSecure(r)
        guard let cookie = DashboardSessions.cookie(DashboardSessions.loginCookieName, in: r), !cookie.isEmpty,
              let given = f["csrf"], ConstantTime.equals(Array(given.utf8), Array(cookie.utf8)) else {
            log("dashboard_refused", ["method": r.method, "path": r.path, "remote": r.remoteAddress, "reason": "csrf"])
            return Self.html(403, DashboardPages.message(title: "Refused", text: "The login form is stale or did not come from this dashboard. Open the login page again.",
                                                         csrf: nil, link: ("Log in", "/login")))
        }
        let typed = (f["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let token = api.token, ConstantTime.equals(Array(typed.utf8), token) else {
            log("dashboard_login", ["result": "refused", "remote": r.remoteAddress])
            let csrf = DashboardSessions.randomToken()
            return Self.html(401, DashboardPages.login(csrf: csrf, error: "That is not the API token.", available: api.token != nil),
                             headers: ["Set-Cookie": DashboardSessions.loginCookieHeader(csrf, secure: secure)])
        }
        let (id, _) = sessions.create()
        log("dashboard_login", ["result": "ok", "remote": r.remoteAddress])
        var headers = HTTPHeaders()
        headers.add("Set-Cookie", sessions.cookieHeader(id: id, secure: secure))
        headers.add("Set-Cookie", DashboardSessions.clearingCookie(DashboardSessions.loginCookieName))
        return Self.redirect("/", headers: headers)
    }

    private func logout(_ id: String) -> HTTPResponse {
        sessions.end(id)
        return Self.redirect("/login", headers: ["Set-Cookie": DashboardSessions.clearingCookie(DashboardSessions.cookieName)])
    }

    // MARK: - Pages and actions

    private func list(_ r: HTTPRequest, _ csrf: String) throws -> HTTPResponse {
        let state = r.queryValue("state").flatMap(TaskState.init(rawValue:))
        let repo = (r.queryValue("repo") ?? "").trimmingCharacters(in: .whitespaces)
        var records = try store.list(state: state, limit: repo.isEmpty ? 100 : 1000)
        if !repo.isEmpty {
            records = records.filter { "\($0.spec.repo.owner)/\($0.spec.repo.name)".lowercased().contains(repo.lowercased()) }
        }
        records = Array(records.prefix(100))
        let attempts = try store.attemptSummaries(taskIDs: records.map(\.id))
        let rows = records.map { DashboardPages.Row(record: $0, attempts: attempts[$0.id] ?? []) }
        let notice = r.queryValue("submitted").map { "Submitted task \($0)." }
        return Self.html(200, DashboardPages.list(rows: rows, health: health(), csrf: csrf, state: state, repo: repo,
                                                  notice: notice, demoTask: demoTask(), now: Date()))
    }

    func health() -> DashboardPages.Health {
        let counts = try? store.counts()
        let running = supervisor.runningTaskIDs.count
        let concurrency = supervisor.settings.globalConcurrency
        let launch = metrics.sandboxLaunch.snapshot
        let host = ProcessInfo.processInfo.hostName
        return DashboardPages.Health(
            storeUp: counts != nil && store.isHealthy(), queued: counts?[.queued] ?? 0, running: running, concurrency: concurrency,
            launches: launch.count, launchP50: metrics.sandboxLaunch.quantileUpperBound(0.5),
            launchP95: metrics.sandboxLaunch.quantileUpperBound(0.95),
            launchMean: launch.count > 0 ? launch.sum / Double(launch.count) : nil,
            hosts: [.init(name: host, running: running, slots: concurrency, since: started, mode: "this daemon (\(mode) mode)")])
    }

    private func task(_ r: HTTPRequest, _ csrf: String) throws -> HTTPResponse {
        let id = r.parameter("id") ?? ""
        guard let detail = try store.task(id: id) else {
            return Self.html(404, DashboardPages.message(title: "No such task", text: "There is no task \(id).", csrf: csrf,
                                                         link: ("All tasks", "/")))
        }
        let path = "/ui/tasks/\(HTML.urlComponent(id))/attempts/"
        return Self.html(200, DashboardPages.task(detail, csrf: csrf, links: links(detail),
                                                  outputURL: { n, stream in path + "\(n)/output?stream=\(stream.rawValue)" }, now: Date()))
    }

    /// GitHub links, when known: the issue or pull request the task came from, its Check
    /// Run (`check-runs.json`), and the pull requests of the branch it pushed.
    func links(_ d: TaskDetail) -> DashboardPages.Links {
        guard let web = gitHubWeb else { return DashboardPages.Links() }
        let spec = d.record.spec
        let repo = "\(web)/\(HTML.urlComponent(spec.repo.owner))/\(HTML.urlComponent(spec.repo.name))"
        var links = DashboardPages.Links()
        switch spec.kind {
        case .addressReviewComment(let n, _, _, _, _), .reviewPullRequest(let n):
            links.items.append(("pull request #\(n)", "\(repo)/pull/\(n)"))
        case .fixIssue(let n, _, _), .respondToMention(let n, _): links.items.append(("#\(n)", "\(repo)/issues/\(n)"))
        }
        if linksCheckRuns, let run = try? store.checkRunID(taskID: spec.id) {
            links.items.append(("Check Run", "\(repo)/runs/\(run)"))
        }
        if let branch = d.record.result?.branch {
            links.items.append(("pull request of \(branch)", "\(repo)/pulls?q=" + HTML.urlComponent("is:pr head:\(branch)")))
        }
        return links
    }

    private func submit(_ f: FormBody) throws -> HTTPResponse {
        do {
            let spec = try api.accept(Data((f["task"] ?? "").utf8))
            return Self.redirect("/?submitted=" + HTML.urlComponent(spec.id))
        } catch let e as HTTPError {
            return Self.html(e.status, DashboardPages.message(title: "Task refused", text: e.message, csrf: nil,
                                                              link: ("Back to the tasks", "/")))
        }
    }

    private func act(_ r: HTTPRequest, cancel: Bool) throws -> HTTPResponse {
        let id = r.parameter("id") ?? ""
        guard try store.taskExists(id: id) else {
            return Self.html(404, DashboardPages.message(title: "No such task", text: "There is no task \(id).", csrf: nil,
                                                         link: ("All tasks", "/")))
        }
        if cancel { _ = try api.cancelTask(id) } else { _ = try api.retryTask(id) }
        return Self.redirect("/tasks/" + HTML.urlComponent(id))
    }

    /// The output stream, for the page's script: a session, or 401.
    private func output(_ r: HTTPRequest) -> HTTPResponse {
        guard sessions.session(for: r) != nil else {
            var resp = HTTPResponse.json(401, ["ok": false, "error": "log in first"])
            Self.harden(&resp)
            return resp
        }
        do {
            var resp = try api.output.response(to: r)
            Self.harden(&resp)
            return resp
        } catch let e as HTTPError {
            return .json(e.status, ["ok": false, "error": e.message])
        } catch {
            return .json(500, ["ok": false, "error": "the task store failed; try again"])
        }
    }
}
