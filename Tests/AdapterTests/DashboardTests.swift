import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Sandbox
import Synchronization
@testable import Supervisor

/// The web dashboard over real sockets: login and its cookie, CSRF, the security headers,
/// escaping of what came from GitHub or a runtime, logged-out answers, and when it is on.
final class DashboardTests: XCTestCase, ConfigParsing {
    static let token = "dashboard-token-for-tests"

    final class Fixture {
        let dir: String
        let store: TaskStore
        let supervisor: TaskSupervisor
        let dashboard: Dashboard
        let server: HTTPServer
        let client = HTTPClient(keepAlive: false)

        init(token: String? = DashboardTests.token) throws {
            dir = NSTemporaryDirectory() + "coven-dashboard-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            store = try TaskStore(path: dir + "/coven.db")
            let runner = try AttemptRunner(config: AttemptConfig(runtime: ["/bin/true"], attemptsDirectory: dir + "/attempts"))
            supervisor = TaskSupervisor(store: store, runner: runner, tokens: nil, publisher: NullPublisher())
            let api = TaskAPI(token: token, store: store, supervisor: supervisor)
            dashboard = Dashboard(api: api, store: store, supervisor: supervisor, metrics: DaemonMetrics(),
                                  gitHubWeb: "https://github.com")
            var router = Router()
            api.register(on: &router)
            dashboard.register(on: &router, serviceDescription: { .json(200, ["service": "coven-supervisor"]) })
            server = HTTPServer(host: "127.0.0.1", port: 0, limits: HTTPServerLimits(shutdownGrace: 2, lingerTimeout: 1), router: router)
            try server.start()
        }

        deinit {
            server.shutdown()
            try? FileManager.default.removeItem(atPath: dir)
        }

        func url(_ path: String) -> String { "http://127.0.0.1:\(server.port)\(path)" }

        func get(_ path: String, cookie: String? = nil) throws -> HTTPClientResponse {
            try client.get(url(path), headers: cookie.map { ["Cookie": $0] } ?? [:])
        }

        func post(_ path: String, form: [String: String], cookie: String? = nil) throws -> HTTPClientResponse {
            var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
            if let cookie { headers.add("Cookie", cookie) }
            let body = form.map { "\(HTML.urlComponent($0.key))=\(HTML.urlComponent($0.value))" }.joined(separator: "&")
            return try client.post(url(path), body: Data(body.utf8), headers: headers)
        }

        /// Logs in as a browser would: the form (its CSRF token and cookie), then the post.
        /// Returns the session cookie and the response.
        func login(token: String = DashboardTests.token) throws -> (cookie: String?, response: HTTPClientResponse) {
            let page = try get("/login")
            let csrf = try XCTUnwrap(Self.hidden("csrf", in: page.text ?? ""), "the login form has a CSRF field")
            let loginCookie = try XCTUnwrap(Self.cookies(page)[DashboardSessions.loginCookieName], "the login form sets its cookie")
            let r = try post("/login", form: ["csrf": csrf, "token": token], cookie: "\(DashboardSessions.loginCookieName)=\(loginCookie)")
            return (Self.cookies(r)[DashboardSessions.cookieName].map { "\(DashboardSessions.cookieName)=\($0)" }, r)
        }

        /// The session cookie and the CSRF token of a fresh login.
        func session() throws -> (cookie: String, csrf: String) {
            let cookie = try XCTUnwrap(try login().cookie, "login failed")
            let page = try get("/", cookie: cookie)
            return (cookie, try XCTUnwrap(Self.hidden("csrf", in: page.text ?? "")))
        }

        static func hidden(_ name: String, in html: String) -> String? {
            guard let r = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            return String(html[r.upperBound...].prefix { $0 != "\"" })
        }

        /// `name → value` of the response's Set-Cookie fields.
        static func cookies(_ r: HTTPClientResponse) -> [String: String] {
            var out: [String: String] = [:]
            for v in r.headers.values(for: "Set-Cookie") {
                let pair = v.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if pair.count == 2 { out[String(pair[0])] = String(pair[1]) }
            }
            return out
        }

        func insert(_ json: String) throws -> String {
            var spec = try JSONDecoder().decode(TaskSpec.self, from: Data(json.utf8))
            spec.source = .api
            try store.insert(spec)
            return spec.id
        }
    }

    // MARK: - Logged out

    func testLoggedOutPagesRedirectToTheLoginPage() throws {
        let f = try Fixture()
        for path in ["/", "/tasks/t_x"] {
            let r = try f.get(path)
            XCTAssertEqual(r.status, 303, "\(path) logged out")
            XCTAssertEqual(r.headers["Location"], "/login", "\(path) goes to the login page")
        }
    }

    func testLoggedOutOutputRequestIs401() throws {
        let f = try Fixture()
        XCTAssertEqual(try f.get("/ui/tasks/t_x/attempts/1/output").status, 401)
    }

    func testAForgedSessionCookieIsNoLogin() throws {
        let f = try Fixture()
        XCTAssertEqual(try f.get("/", cookie: "coven_session=\(String(repeating: "ab", count: 32))").status, 303)
    }

    // MARK: - Login

    func testLoginSetsAnHttpOnlyStrictSessionCookie() throws {
        let f = try Fixture()
        let (_, r) = try f.login()
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers["Location"], "/")
        let field = try XCTUnwrap(r.headers.values(for: "Set-Cookie").first { $0.hasPrefix(DashboardSessions.cookieName + "=") })
        let attributes = Set(field.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
        XCTAssertTrue(attributes.contains("HttpOnly"), field)
        XCTAssertTrue(attributes.contains("SameSite=Strict"), field)
        XCTAssertTrue(attributes.contains("Path=/"), field)
        XCTAssertTrue(attributes.contains { $0.hasPrefix("Max-Age=") }, "a session expires: \(field)")
    }

    func testTheSessionIsARandomIDNotTheToken() throws {
        let f = try Fixture()
        let a = try XCTUnwrap(try f.login().cookie)
        let b = try XCTUnwrap(try f.login().cookie)
        XCTAssertNotEqual(a, b, "every login gets its own id")
        XCTAssertFalse(a.contains(Self.token), "the cookie must not carry the token")
        XCTAssertEqual(a.count, DashboardSessions.cookieName.count + 1 + 64, "a 256-bit id: \(a)")
    }

    func testWrongTokenIsRefusedWithoutASession() throws {
        let f = try Fixture()
        let (cookie, r) = try f.login(token: "not-the-token")
        XCTAssertEqual(r.status, 401)
        XCTAssertNil(cookie, "a refused login sets no session cookie")
        XCTAssertEqual(f.dashboard.sessions.count, 0)
    }

    func testLoginWithoutItsCSRFTokenIs403() throws {
        let f = try Fixture()
        let r = try f.post("/login", form: ["token": Self.token])
        XCTAssertEqual(r.status, 403, "a login posted from elsewhere is refused")
        XCTAssertEqual(f.dashboard.sessions.count, 0)
    }

    func testTheTokenNeverAppearsInAPage() throws {
        let f = try Fixture()
        let (cookie, _) = try f.login()
        let id = try f.insert(DaemonRouteFixture.taskJSON(id: "t_tok"))
        for path in ["/", "/tasks/\(id)", "/login"] {
            let r = try f.get(path, cookie: cookie)
            XCTAssertFalse((r.text ?? "").contains(Self.token), "\(path) shows the token")
            XCTAssertFalse(r.headers.description.contains(Self.token), "\(path) headers carry the token")
        }
    }

    func testLogoutEndsTheSession() throws {
        let f = try Fixture()
        let s = try f.session()
        let r = try f.post("/logout", form: ["csrf": s.csrf], cookie: s.cookie)
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(try f.get("/", cookie: s.cookie).status, 303, "the old cookie is no login any more")
    }

    func testAnExpiredSessionIsNoLogin() {
        let now = Mutex(Date())
        let sessions = DashboardSessions(lifetime: 60, clock: { now.withLock { $0 } })
        let (id, _) = sessions.create()
        let request = HTTPRequest(method: "GET", target: "/", headers: ["Cookie": "\(DashboardSessions.cookieName)=\(id)"])
        XCTAssertNotNil(sessions.session(for: request))
        now.withLock { $0 = $0.addingTimeInterval(61) }
        XCTAssertNil(sessions.session(for: request), "a session past its lifetime must not log in")
    }

    // MARK: - CSRF

    func testPostsWithoutTheCSRFTokenAre403() throws {
        let f = try Fixture()
        let s = try f.session()
        _ = try f.insert(DaemonRouteFixture.taskJSON(id: "t_csrf"))
        for path in ["/tasks", "/tasks/t_csrf/cancel", "/tasks/t_csrf/retry", "/logout"] {
            for form in [[:], ["csrf": "0123"]] as [[String: String]] {
                let r = try f.post(path, form: form.merging(["task": DaemonRouteFixture.taskJSON(id: "t_new")]) { a, _ in a }, cookie: s.cookie)
                XCTAssertEqual(r.status, 403, "\(path) with \(form): must be refused")
            }
        }
        XCTAssertEqual(try f.store.task(id: "t_csrf")?.record.state, .queued, "nothing was cancelled")
        XCTAssertNil(try f.store.task(id: "t_new"), "nothing was submitted")
        XCTAssertEqual(try f.get("/", cookie: s.cookie).status, 200, "nor was the session ended")
    }

    func testCancelWithTheCSRFTokenCancels() throws {
        let f = try Fixture()
        let s = try f.session()
        _ = try f.insert(DaemonRouteFixture.taskJSON(id: "t_c"))
        let r = try f.post("/tasks/t_c/cancel", form: ["csrf": s.csrf], cookie: s.cookie)
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers["Location"], "/tasks/t_c")
        XCTAssertEqual(try f.store.task(id: "t_c")?.record.state, .cancelled)
    }

    func testSubmitFormQueuesTheTask() throws {
        let f = try Fixture()
        let s = try f.session()
        let r = try f.post("/tasks", form: ["csrf": s.csrf, "task": DaemonRouteFixture.taskJSON(id: "t_form")], cookie: s.cookie)
        XCTAssertEqual(r.status, 303, r.text ?? "")
        XCTAssertEqual(r.headers["Location"], "/?submitted=t_form")
        XCTAssertEqual(try f.store.task(id: "t_form")?.record.state, .queued)
    }

    // MARK: - Headers and escaping

    func testEveryResponseCarriesAStrictContentSecurityPolicy() throws {
        let f = try Fixture()
        let s = try f.session()
        _ = try f.insert(DaemonRouteFixture.taskJSON(id: "t_csp"))
        for path in ["/login", "/", "/tasks/t_csp", "/tasks/t_none", DashboardAssets.jsPath, DashboardAssets.cssPath] {
            let r = try f.get(path, cookie: s.cookie)
            let csp = r.headers["Content-Security-Policy"] ?? ""
            XCTAssertTrue(csp.contains("default-src 'self'"), "\(path): \(csp)")
            XCTAssertTrue(csp.contains("frame-ancestors 'none'"), "\(path): \(csp)")
            XCTAssertFalse(csp.contains("unsafe-inline"), "\(path): no inline script or style: \(csp)")
            XCTAssertEqual(r.headers["X-Content-Type-Options"], "nosniff", path)
        }
    }

    func testPagesHaveNoInlineScript() throws {
        let f = try Fixture()
        let s = try f.session()
        let html = try f.get("/", cookie: s.cookie).text ?? ""
        XCTAssertFalse(html.contains("<script>"), "a script element without src would need 'unsafe-inline'")
        XCTAssertFalse(html.contains(" style=\""), "style attributes would need 'unsafe-inline'")
        XCTAssertFalse(html.contains(" onclick="), "event handler attributes are inline script")
    }

    func testHostileTaskFieldsAreEscaped() throws {
        let f = try Fixture()
        let s = try f.session()
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
        let json = DaemonRouteFixture.taskJSON(id: "t_evil").replacingOccurrences(of: "\"Broken\"", with: WebhookFixtures.q(hostile))
        _ = try f.insert(json)
        let c = try XCTUnwrap(try f.store.claimNext(globalLimit: 1, perInstallationLimit: 1))
        try f.store.recordAttempt(taskID: "t_evil", attempt: c.attempt,
                                  AttemptEnd(report: ExitReport(exitClass: .exited(code: 1)),
                                             outcome: AttemptOutcome(attemptClass: .failed, disposition: .failure, reason: hostile),
                                             stdout: Redactor().redact(Data(hostile.utf8)), stderr: Redactor().redact(Data(hostile.utf8))),
                                  retry: RetryPolicy(maxRetries: 0))
        for path in ["/", "/tasks/t_evil"] {
            let html = try f.get(path, cookie: s.cookie).text ?? ""
            XCTAssertFalse(html.contains("<script>alert"), "\(path): a task's title ran as script")
            XCTAssertFalse(html.contains("<img src=x"), "\(path): a runtime's output became markup")
            XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path): the text is shown, escaped")
        }
    }

    func testEscapeCoversTheFiveCharacters() {
        XCTAssertEqual(HTML.escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }

    // MARK: - When it is on

    func testDashboardIsOnByDefaultOnlyOnLoopback() {
        // (listen host, dashboard.enabled, on)
        let cases: [(String, Bool?, Bool)] = [
            ("127.0.0.1", nil, true), ("127.0.0.53", nil, true), ("::1", nil, true), ("localhost", nil, true),
            ("0.0.0.0", nil, false), ("::", nil, false), ("10.0.0.5", nil, false), ("192.168.1.2", nil, false),
            ("0.0.0.0", true, true), ("127.0.0.1", false, false),
        ]
        for (host, enabled, on) in cases {
            let d = DaemonConfig.Dashboard(enabled: enabled)
            XCTAssertEqual(d.isEnabled(listen: .init(host: host, port: 8787)), on, "listen \(host), enabled \(String(describing: enabled))")
        }
    }

    func testConfigReadsDashboardEnabled() throws {
        let c = try parse(#"{"state_dir": "/v", "worker": {"runtime": ["/r"]}, "listen": "0.0.0.0:80", "dashboard": {"enabled": true}}"#)
        XCTAssertEqual(c.dashboard.enabled, true)
        XCTAssertTrue(c.dashboard.isEnabled(listen: c.listen))
    }

    func testConfigRefusesUnknownDashboardKeys() {
        let e = refusal(#"{"state_dir": "/v", "worker": {"runtime": ["/r"]}, "dashboard": {"enable": true}}"#)
        XCTAssertEqual(e?.path, "dashboard.enable")
    }

    func testJSONClientsOfSlashStillGetTheServiceDescription() throws {
        let f = try Fixture()
        let r = try f.client.get(f.url("/"), headers: ["Accept": "application/json"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["service"] as? String, "coven-supervisor")
    }
}
