import Foundation
import Adapter
import HTTP
import Synchronization
import Supervisor

/// A fake GitHub REST API on 127.0.0.1 for tests (never referenced by production code).
///
/// It checks what GitHub checks, so a client that passes here is right about more than
/// the happy path:
/// - `/app/*` requires `Authorization: Bearer <JWT>`: RS256, verified with the App's
///   public key, `iss` = the App id, `iat`/`exp` within GitHub's window → else 401;
/// - installation tokens are random `ghs_…` strings (40 chars) bound to the installation,
///   the requested repositories and permissions (a request beyond the installation's
///   grant → 422), expiring after `tokenLifetime` (1 h);
/// - `DELETE /installation/token` revokes the token it is authenticated with (204); a
///   revoked token is refused everywhere from then on (401 "Bad credentials");
/// - every repository endpoint requires an issued, unexpired token (401 "Bad credentials")
///   that covers the repository and has the permission the endpoint needs (403 "Resource
///   not accessible by integration");
/// - JSON bodies are checked for the required fields and their types (check run name +
///   head_sha of a known commit; a conclusion from the allowed set, required with status
///   completed; pull title/head/base of existing branches with commits between them;
///   comment body) → 422; unparseable JSON → 400;
/// - requests without `User-Agent` → 403 (as GitHub); in strict mode (the default) also a
///   wrong `Accept` → 415 and a missing or unsupported `X-GitHub-Api-Version` → 400.
///
/// Every request is recorded (`calls`), and failures can be injected ahead of the checks
/// (`injectFailure`, `injectRateLimit`, `injectRateLimitExhausted`).
public final class FakeGitHubAPI: Sendable {
    // MARK: Configuration

    public static let defaultInstallationPermissions: [String: String] = [
        "checks": "write", "issues": "write", "pull_requests": "write", "contents": "write", "metadata": "read",
    ]

    public struct Installation: Sendable {
        public var id: Int64
        /// Full names, `owner/name`.
        public var repositories: [String]
        public var permissions: [String: String]
        public init(id: Int64, repositories: [String],
                    permissions: [String: String] = FakeGitHubAPI.defaultInstallationPermissions) {
            self.id = id; self.repositories = repositories; self.permissions = permissions
        }
    }

    public struct PullRequest: Sendable, Equatable {
        public var number: Int
        public var headRef: String
        public var headSHA: String
        public var baseRef: String
        public var title: String
        public var body: String
        public var draft: Bool
        public var state: String
        /// The head's repository ("owner/name") when it is a fork; nil: the repository itself.
        public var headRepository: String?
        /// Its changed files (`GET /pulls/{n}/files`), with their patches.
        public var files: [PullFile]
        public init(number: Int, headRef: String, headSHA: String, baseRef: String, title: String = "",
                    body: String = "", draft: Bool = false, state: String = "open", headRepository: String? = nil,
                    files: [PullFile] = []) {
            self.number = number; self.headRef = headRef; self.headSHA = headSHA; self.baseRef = baseRef
            self.title = title; self.body = body; self.draft = draft; self.state = state
            self.headRepository = headRepository; self.files = files
        }
        func headOwner(in repo: Repository) -> String {
            headRepository?.split(separator: "/").first.map(String.init) ?? repo.owner
        }
    }

    public struct Repository: Sendable {
        public var owner: String
        public var name: String
        public var defaultBranch: String
        /// Branch name → head commit SHA.
        public var branches: [String: String]
        /// Existing pull requests by number.
        public var pulls: [Int: PullRequest]
        /// Commits check runs may be attached to besides branch and PR heads.
        public var extraCommits: Set<String>
        public var isPrivate: Bool
        public init(owner: String, name: String, defaultBranch: String = "main", branches: [String: String],
                    pulls: [PullRequest] = [], extraCommits: Set<String> = [], isPrivate: Bool = true) {
            self.owner = owner; self.name = name; self.defaultBranch = defaultBranch; self.branches = branches
            self.pulls = Dictionary(pulls.map { ($0.number, $0) }, uniquingKeysWith: { $1 })
            self.extraCommits = extraCommits; self.isPrivate = isPrivate
        }
        public var fullName: String { "\(owner)/\(name)" }
        var knownCommits: Set<String> {
            Set(branches.values).union(pulls.values.map(\.headSHA)).union(extraCommits)
        }
    }

    public struct Options: Sendable {
        /// Require `Accept: application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28`.
        public var strictHeaders: Bool
        /// Lifetime of issued installation tokens (GitHub: 1 hour).
        public var tokenLifetime: TimeInterval
        /// Accept PRs whose head branch the fake does not know (a real agent pushed it elsewhere).
        public var allowUnknownHeadBranch: Bool
        /// The App's slug (comment authors are `<slug>[bot]`).
        public var appSlug: String
        /// Serve under a path prefix, as GitHub Enterprise Server does (`/api/v3`); "" for none.
        public var pathPrefix: String
        public var clock: @Sendable () -> Date
        public init(strictHeaders: Bool = true, tokenLifetime: TimeInterval = 3600, allowUnknownHeadBranch: Bool = false,
                    appSlug: String = "coven", pathPrefix: String = "", clock: @escaping @Sendable () -> Date = { Date() }) {
            self.strictHeaders = strictHeaders; self.tokenLifetime = tokenLifetime
            self.allowUnknownHeadBranch = allowUnknownHeadBranch; self.appSlug = appSlug; self.clock = clock
            var prefix = pathPrefix
            while prefix.hasSuffix("/") { prefix.removeLast() }
            if !prefix.isEmpty && !prefix.hasPrefix("/") { prefix = "/" + prefix }
            self.pathPrefix = prefix
        }
    }

    // MARK: Records

    /// An installation token the fake issued.
    public struct IssuedToken: Sendable, Equatable, CustomStringConvertible {
        /// 1, 2, 3… in issue order.
        public var id: Int
        public var token: String
        public var installationID: Int64
        /// Full names the token is limited to; nil for all of the installation's.
        public var repositories: [String]?
        public var permissions: [String: String]
        public var expiresAt: Date
        public var description: String {
            "IssuedToken(#\(id), installation \(installationID), repositories: "
                + "\(repositories?.joined(separator: ",") ?? "all"), permissions: "
                + "\(permissions.keys.sorted().map { "\($0):\(permissions[$0]!)" }.joined(separator: ",")))"
        }
        func allows(_ permission: String, _ level: String) -> Bool {
            FakeGitHubAPI.level(permissions[permission]) >= FakeGitHubAPI.level(level)
        }
    }

    /// How a request authenticated.
    public enum CallAuth: Sendable, Equatable {
        case none
        /// `Bearer <JWT>`; `valid` when it verified with the App's key and window.
        case appJWT(valid: Bool)
        case installationToken(IssuedToken)
        /// A token the fake never issued (or a malformed header).
        case unknown
    }

    /// One recorded request.
    public struct Call: Sendable, CustomStringConvertible {
        public var method: String
        /// The path as sent (percent-encoded), without the query.
        public var path: String
        public var query: String?
        public var auth: CallAuth
        /// The parsed JSON body (nil when there was none or it did not parse).
        public var json: JSONValue?
        /// The status the fake answered.
        public var status: Int
        /// True when the answer was an injected failure.
        public var injected: Bool
        public var userAgent: String?
        public var accept: String?
        public var apiVersion: String?
        /// The installation token used, if any.
        public var token: IssuedToken? {
            if case .installationToken(let t) = auth { return t }
            return nil
        }
        public var description: String { "\(method) \(path) → \(status)\(injected ? " (injected)" : "")" }
    }

    public struct CheckRun: Sendable {
        public var id: Int64
        public var repository: String
        public var name: String
        public var headSHA: String
        public var status: String
        public var conclusion: String?
        public var outputTitle: String?
        public var outputSummary: String?
        public var detailsURL: String?
        public var externalID: String?
        /// Every status it went through, in order (`queued`, `in_progress`, `completed`).
        public var statusHistory: [String]
        /// The token that created it.
        public var createdBy: IssuedToken
        /// Every annotation sent, in order (GitHub appends each request's, at most 50 a request).
        public var annotations: [Annotation] = []
        /// How many annotations each request carried.
        public var annotationBatches: [Int] = []
    }

    public struct Comment: Sendable {
        public var id: Int64
        public var repository: String
        public var issue: Int
        public var body: String
        public var userLogin: String
        public var userType: String
        /// How many times it was edited.
        public var edits: Int
    }

    public struct CreatedPullRequest: Sendable {
        public var number: Int
        public var repository: String
        public var title: String
        public var head: String
        public var base: String
        public var body: String
        public var draft: Bool
    }

    // MARK: State

    struct Injected: Sendable {
        var remaining: Int
        var status: Int
        var headers: [String: String]
        var message: String
        var matches: @Sendable (String, String) -> Bool
    }

    struct State: Sendable {
        var repos: [String: Repository] = [:]  // lowercased full name
        var tokens: [String: IssuedToken] = [:]
        var issued: [IssuedToken] = []
        var revoked: [IssuedToken] = []
        var calls: [Call] = []
        var checkRuns: [CheckRun] = []
        var comments: [Comment] = []
        var created: [CreatedPullRequest] = []
        var reviews: [Review] = []
        var reviewComments: [ReviewComment] = []
        var injected: [Injected] = []
        var nextID: Int64 = 1000
        var tokenLifetime: TimeInterval
        /// "owner/name" (lowercased) → login (lowercased) → (permission, role_name).
        var collaborators: [String: [String: (String, String)]] = [:]
    }

    public let appID: String
    public let options: Options
    private let publicKey: RSAPublicKey
    private let installations: [Int64: Installation]
    let state: Mutex<State>
    private let server = Mutex<HTTPServer?>(nil)

    /// - Parameters:
    ///   - appID: the App id the JWT's `iss` must equal.
    ///   - publicKeyPEM: the App's public key (`BEGIN PUBLIC KEY`).
    public init(appID: String, publicKeyPEM: String, installations: [Installation], repositories: [Repository],
                options: Options = Options()) throws {
        self.appID = appID
        self.publicKey = try RSAPublicKey(pemString: publicKeyPEM)
        self.installations = Dictionary(installations.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.options = options
        var s = State(tokenLifetime: options.tokenLifetime)
        for r in repositories { s.repos[r.fullName.lowercased()] = r }
        self.state = Mutex(s)
    }

    deinit { shutdown() }

    /// Starts listening on 127.0.0.1 (ephemeral port) and returns the API base URL.
    @discardableResult
    public func start() throws -> URL {
        try server.withLock { server in
            if let server { return url(server.port) }
            var router = Router()
            registerRoutes(&router)
            let routed = router
            let s = HTTPServer(host: "127.0.0.1", port: 0, limits: HTTPServerLimits(shutdownGrace: 1)) {
                [weak self] request in
                guard let self else { return HTTPResponse.text(503, "gone\n") }
                return self.dispatch(request, routed)
            }
            let port = try s.start()
            server = s
            return url(port)
        }
    }

    /// The API base URL (`http://127.0.0.1:PORT` plus the path prefix); nil before `start()`.
    public var baseURL: URL? { server.withLock { $0.map { url($0.port) } } }

    public func shutdown() {
        let s = server.withLock { s -> HTTPServer? in defer { s = nil }; return s }
        s?.shutdown()
    }

    private func url(_ port: UInt16) -> URL { URL(string: "http://127.0.0.1:\(port)\(options.pathPrefix)")! }

    // MARK: Inspection

    public var calls: [Call] { state.withLock { $0.calls } }
    public var tokensIssued: [IssuedToken] { state.withLock { $0.issued } }
    /// Tokens revoked through `DELETE /installation/token`, in order.
    public var tokensRevoked: [IssuedToken] { state.withLock { $0.revoked } }

    /// The issued token `token` when GitHub would still accept it (not revoked, not expired).
    public func liveToken(_ token: String) -> IssuedToken? {
        let now = options.clock()
        return state.withLock { $0.tokens[token] }.flatMap { $0.expiresAt > now ? $0 : nil }
    }
    public var checkRuns: [CheckRun] { state.withLock { $0.checkRuns } }
    public var comments: [Comment] { state.withLock { $0.comments } }
    public var pullRequestsCreated: [CreatedPullRequest] { state.withLock { $0.created } }

    /// Calls with this method whose path ends with `suffix`.
    public func calls(_ method: String, pathSuffix suffix: String = "") -> [Call] {
        calls.filter { $0.method == method && $0.path.hasSuffix(suffix) }
    }

    public func checkRun(id: Int64) -> CheckRun? { checkRuns.first { $0.id == id } }

    /// A repository's current state (branches, pulls, including created ones).
    public func repository(_ fullName: String) -> Repository? { state.withLock { $0.repos[fullName.lowercased()] } }

    // MARK: Mutation

    /// Creates or moves a branch (e.g. the branch an agent pushed).
    public func setBranch(_ repository: String, _ branch: String, sha: String) {
        state.withLock { $0.repos[repository.lowercased()]?.branches[branch] = sha }
    }

    /// Adds (or replaces) a pull request of `repository`.
    public func setPullRequest(_ repository: String, _ pull: PullRequest) {
        state.withLock { $0.repos[repository.lowercased()]?.pulls[pull.number] = pull }
    }

    /// Adds a comment as someone else (e.g. a person quoting a marker).
    @discardableResult
    public func addComment(_ repository: String, issue: Int, body: String, userLogin: String = "octocat",
                           userType: String = "User") -> Int64 {
        state.withLock { s in
            s.nextID += 1
            s.comments.append(Comment(id: s.nextID, repository: repository, issue: issue, body: body,
                                      userLogin: userLogin, userType: userType, edits: 0))
            return s.nextID
        }
    }

    /// Makes `user` a collaborator of `repository` with `role`: admin, maintain, write,
    /// triage or read (GitHub's `permission` field folds maintain into write and triage
    /// into read). Users never set are not collaborators: GitHub answers 404.
    public func setCollaborator(_ repository: String, _ user: String, role: String) {
        let permission = ["maintain": "write", "triage": "read"][role] ?? role
        state.withLock { $0.collaborators[repository.lowercased(), default: [:]][user.lowercased()] = (permission, role) }
    }

    /// Changes the lifetime of tokens issued from now on.
    public func setTokenLifetime(_ seconds: TimeInterval) { state.withLock { $0.tokenLifetime = seconds } }

    /// Revokes every issued token (later uses get 401).
    public func revokeAllTokens() { state.withLock { $0.tokens.removeAll() } }

    // MARK: Failure injection

    /// Answers the next `count` matching requests with `status` before any other check.
    /// `matching` receives the method and the path.
    public func injectFailure(status: Int = 502, count: Int = 1, headers: [String: String] = [:],
                              message: String? = nil,
                              matching: @escaping @Sendable (_ method: String, _ path: String) -> Bool = { _, _ in true }) {
        state.withLock {
            $0.injected.append(Injected(remaining: count, status: status, headers: headers,
                                        message: message ?? HTTPResponse.reasonPhrase(for: status), matches: matching))
        }
    }

    /// Forgets every injected failure not used up yet (GitHub is back).
    public func clearInjectedFailures() { state.withLock { $0.injected.removeAll() } }

    /// A secondary rate limit: `status` (429 or 403) with `Retry-After: seconds`.
    public func injectRateLimit(retryAfter seconds: Int, status: Int = 429, count: Int = 1,
                                matching: @escaping @Sendable (_ method: String, _ path: String) -> Bool = { _, _ in true }) {
        injectFailure(status: status, count: count, headers: ["Retry-After": String(seconds)],
                      message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                      matching: matching)
    }

    /// A primary rate limit: 403 with `X-RateLimit-Remaining: 0` and a reset `seconds` ahead.
    public func injectRateLimitExhausted(resetIn seconds: TimeInterval, count: Int = 1,
                                         matching: @escaping @Sendable (_ method: String, _ path: String) -> Bool = { _, _ in true }) {
        let reset = Int((options.clock().timeIntervalSince1970 + seconds).rounded(.up))
        injectFailure(status: 403, count: count,
                      headers: ["X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(reset)],
                      message: "API rate limit exceeded for installation ID 1.", matching: matching)
    }

    // MARK: - Dispatch

    struct Failure: Error {
        var status: Int
        var message: String
        var errors: [[String: String]] = []
        var headers: [String: String] = [:]
        /// GitHub's plain-string `errors` (e.g. a review's "Line could not be resolved").
        var textErrors: [String] = []
        var response: HTTPResponse {
            var o: [String: Any] = ["message": message, "documentation_url": "https://docs.github.com/rest"]
            if !errors.isEmpty { o["errors"] = errors }
            if !textErrors.isEmpty { o["errors"] = textErrors }
            return HTTPResponse.json(status, o, headers: HTTPHeaders(headers.map { ($0.key, $0.value) }))
        }
        static func invalid(_ detail: String) -> Failure { Failure(status: 422, message: "Invalid request.\n\n\(detail)") }
        static let notAccessible = Failure(status: 403, message: "Resource not accessible by integration")
        static let notFound = Failure(status: 404, message: "Not Found")
    }

    private func dispatch(_ original: HTTPRequest, _ router: Router) -> HTTPResponse {
        var request = original
        let prefix = options.pathPrefix
        if !prefix.isEmpty {
            guard original.path.hasPrefix(prefix + "/") else {
                return Failure(status: 404, message: "Not Found (outside \(prefix))").response
            }
            request = HTTPRequest(method: original.method, target: String(original.target.dropFirst(prefix.count)),
                                  version: original.version, headers: original.headers, body: original.body,
                                  remoteAddress: original.remoteAddress)
        }
        let json: JSONValue? = request.body.isEmpty ? nil : try? JSONValue.parse(request.body)
        var call = Call(method: request.method, path: request.path, query: request.query, auth: authOf(request),
                        json: json, status: 0, injected: false, userAgent: request.headers["User-Agent"],
                        accept: request.headers["Accept"], apiVersion: request.headers["X-GitHub-Api-Version"])
        let response: HTTPResponse
        if let injected = takeInjected(request.method, request.path) {
            call.injected = true
            response = injected
        } else if let failure = checkHeaders(request) {
            response = failure.response
        } else if !request.body.isEmpty && json == nil {
            response = Failure(status: 400, message: "Problems parsing JSON").response
        } else {
            let routed = router.handle(request)
            // The router's own 404/405 are text; GitHub answers JSON.
            if routed.headers["Content-Type"]?.hasPrefix("text/plain") ?? false {
                response = Failure(status: routed.status, message: routed.status == 404 ? "Not Found" : routed.reason).response
            } else {
                response = routed
            }
        }
        call.status = response.status
        state.withLock { $0.calls.append(call) }
        return response
    }

    private func takeInjected(_ method: String, _ path: String) -> HTTPResponse? {
        state.withLock { s -> HTTPResponse? in
            guard let i = s.injected.firstIndex(where: { $0.remaining > 0 && $0.matches(method, path) }) else { return nil }
            s.injected[i].remaining -= 1
            let f = s.injected[i]
            if s.injected[i].remaining == 0 { s.injected.remove(at: i) }
            return Failure(status: f.status, message: f.message, headers: f.headers).response
        }
    }

    private func checkHeaders(_ request: HTTPRequest) -> Failure? {
        guard let ua = request.headers["User-Agent"], !ua.trimmingCharacters(in: .whitespaces).isEmpty else {
            return Failure(status: 403, message: "Request forbidden by administrative rules. "
                           + "Please make sure your request has a User-Agent header.")
        }
        guard options.strictHeaders else { return nil }
        let accept = request.headers["Accept"] ?? ""
        guard accept.lowercased().contains("application/vnd.github+json") else {
            return Failure(status: 415, message: "Unsupported 'Accept' header: '\(accept)'. "
                           + "Use 'application/vnd.github+json' (fake GitHub, strict mode).")
        }
        guard let version = request.headers["X-GitHub-Api-Version"] else {
            return Failure(status: 400, message: "Missing X-GitHub-Api-Version header (fake GitHub, strict mode).")
        }
        guard version == "2022-11-28" else {
            return Failure(status: 400, message: "API version \(version) is not supported.")
        }
        return nil
    }

    private func authOf(_ request: HTTPRequest) -> CallAuth {
        guard let (scheme, credential) = Self.authorization(request) else { return .none }
        if scheme == "bearer", credential.split(separator: ".", omittingEmptySubsequences: false).count == 3 {
            return .appJWT(valid: verifyJWT(credential) == nil)
        }
        return state.withLock { s in s.tokens[credential].map { .installationToken($0) } ?? .unknown }
    }

    private static func authorization(_ request: HTTPRequest) -> (String, String)? {
        guard let value = request.headers["Authorization"] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return ("", value) }
        return (parts[0].lowercased(), parts[1].trimmingCharacters(in: .whitespaces))
    }

    /// nil when `jwt` is a valid App JWT now; else GitHub's complaint.
    private func verifyJWT(_ jwt: String) -> String? {
        guard let claims = JWT.verifyRS256(token: jwt, publicKey: publicKey, now: nil) else {
            return "A JSON web token could not be decoded"
        }
        let now = Int64(options.clock().timeIntervalSince1970)
        if claims.iat > now + 60 {
            return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        }
        if claims.exp <= now {
            return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
        }
        if claims.exp > now + JWT.maxLifetime {
            return "'Expiration time' claim ('exp') is too far in the future"
        }
        if claims.iss != appID { return "'Issuer' claim ('iss') must be the App's id (got '\(claims.iss)')" }
        return nil
    }

    // MARK: - Routes

    private func registerRoutes(_ r: inout Router) {
        func add(_ method: String, _ pattern: String, _ body: @escaping @Sendable (FakeGitHubAPI, HTTPRequest) throws -> HTTPResponse) {
            r.add(method, pattern) { [weak self] request in
                guard let self else { return HTTPResponse.text(503, "gone\n") }
                do { return try body(self, request) } catch let f as Failure { return f.response }
            }
        }
        add("GET", "/app") { f, req in try f.getApp(req) }
        add("POST", "/app/installations/{id}/access_tokens") { f, req in try f.createToken(req) }
        add("DELETE", "/installation/token") { f, req in try f.revokeToken(req) }
        add("GET", "/repos/{owner}/{repo}") { f, req in try f.getRepo(req) }
        add("GET", "/repos/{owner}/{repo}/branches/{branch}") { f, req in try f.getBranch(req) }
        add("GET", "/repos/{owner}/{repo}/git/ref/heads/{branch}") { f, req in try f.getRef(req) }
        add("GET", "/repos/{owner}/{repo}/pulls/{number}") { f, req in try f.getPull(req) }
        add("GET", "/repos/{owner}/{repo}/pulls") { f, req in try f.listPulls(req) }
        add("POST", "/repos/{owner}/{repo}/pulls") { f, req in try f.createPull(req) }
        add("POST", "/repos/{owner}/{repo}/check-runs") { f, req in try f.createCheckRun(req) }
        add("GET", "/repos/{owner}/{repo}/check-runs/{id}") { f, req in try f.getCheckRun(req) }
        add("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs") { f, req in try f.listCheckRuns(req) }
        add("PATCH", "/repos/{owner}/{repo}/check-runs/{id}") { f, req in try f.updateCheckRun(req) }
        add("GET", "/repos/{owner}/{repo}/issues/{number}/comments") { f, req in try f.listComments(req) }
        add("POST", "/repos/{owner}/{repo}/issues/{number}/comments") { f, req in try f.createComment(req) }
        add("PATCH", "/repos/{owner}/{repo}/issues/comments/{id}") { f, req in try f.updateComment(req) }
        registerReviewRoutes(add)
        add("GET", "/repos/{owner}/{repo}/collaborators/{user}/permission") { f, req in try f.collaboratorPermission(req) }
    }

    // MARK: App endpoints

    private func requireApp(_ req: HTTPRequest) throws {
        guard let (scheme, credential) = Self.authorization(req) else {
            throw Failure(status: 401, message: "A JSON web token could not be decoded (no Authorization header)")
        }
        guard scheme == "bearer" else {
            throw Failure(status: 401, message: "A JSON web token could not be decoded (expected 'Bearer <JWT>')")
        }
        if let problem = verifyJWT(credential) { throw Failure(status: 401, message: problem) }
    }

    private func getApp(_ req: HTTPRequest) throws -> HTTPResponse {
        try requireApp(req)
        return .json(200, ["id": Int64(appID) ?? 1, "slug": options.appSlug, "name": options.appSlug] as [String: Any])
    }

    private func createToken(_ req: HTTPRequest) throws -> HTTPResponse {
        try requireApp(req)
        guard let id = req.parameter("id").flatMap(Int64.init), let inst = installations[id] else { throw Failure.notFound }
        let body = try object(req, optional: true)

        var repos: [String]? = nil
        if let value = body["repositories"] {
            guard let array = value.arrayValue else {
                throw Failure.invalid("For 'properties/repositories', \(value) is not an array.")
            }
            var full: [String] = []
            for item in array {
                guard let name = item.stringValue else {
                    throw Failure.invalid("For 'items', \(item) is not a string.")
                }
                guard let match = inst.repositories.first(where: {
                    $0.lowercased() == name.lowercased() || $0.split(separator: "/").last.map(String.init)?.lowercased() == name.lowercased()
                }) else {
                    throw Failure(status: 422, message: "There is at least one repository that does not exist or is not "
                                  + "accessible to the parent installation.")
                }
                full.append(match)
            }
            repos = full
        }
        var permissions = inst.permissions
        if let value = body["permissions"] {
            guard let requested = value.objectValue else {
                throw Failure.invalid("For 'properties/permissions', \(value) is not an object.")
            }
            var narrowed: [String: String] = [:]
            for (name, levelValue) in requested {
                guard let level = levelValue.stringValue, ["read", "write"].contains(level) else {
                    throw Failure.invalid("For 'properties/\(name)', \(levelValue) is not one of [\"read\", \"write\"].")
                }
                guard Self.level(inst.permissions[name]) >= Self.level(level) else {
                    throw Failure(status: 422, message: "The permissions requested are not granted to this installation.")
                }
                narrowed[name] = level
            }
            if !narrowed.isEmpty {
                narrowed["metadata"] = "read"  // GitHub always adds it
                permissions = narrowed
            }
        }

        let issued = state.withLock { s -> IssuedToken in
            let t = IssuedToken(id: s.issued.count + 1, token: Self.randomToken(), installationID: id,
                                repositories: repos, permissions: permissions,
                                expiresAt: options.clock().addingTimeInterval(s.tokenLifetime))
            s.issued.append(t)
            s.tokens[t.token] = t
            return t
        }
        var o: [String: Any] = [
            "token": issued.token, "expires_at": Self.timestamp(issued.expiresAt), "permissions": permissions,
            "repository_selection": repos == nil ? "all" : "selected",
        ]
        if let repos {
            o["repositories"] = repos.enumerated().map { i, full -> [String: Any] in
                ["id": 100 + i, "name": String(full.split(separator: "/").last ?? ""), "full_name": full]
            }
        }
        return .json(201, o)
    }

    /// `DELETE /installation/token`: the token that authenticates the call stops working.
    private func revokeToken(_ req: HTTPRequest) throws -> HTTPResponse {
        guard let (_, credential) = Self.authorization(req) else {
            throw Failure(status: 401, message: "Requires authentication")
        }
        guard liveToken(credential) != nil else { throw Failure(status: 401, message: "Bad credentials") }
        state.withLock { s in
            if let t = s.tokens.removeValue(forKey: credential) { s.revoked.append(t) }
        }
        return HTTPResponse(status: 204)
    }

    // MARK: Repository endpoints

    /// The repository, after checking the token covers it with one of `permissions`.
    func authorize(_ req: HTTPRequest, _ permissions: [(String, String)]) throws -> (Repository, IssuedToken) {
        guard let (_, credential) = Self.authorization(req) else {
            throw Failure(status: 401, message: "Requires authentication")
        }
        let now = options.clock()
        let lookup = state.withLock { s -> (IssuedToken?, Repository?) in
            (s.tokens[credential], s.repos["\(req.parameter("owner") ?? "")/\(req.parameter("repo") ?? "")".lowercased()])
        }
        guard let token = lookup.0, token.expiresAt > now else { throw Failure(status: 401, message: "Bad credentials") }
        guard let repo = lookup.1 else { throw Failure.notFound }
        let full = repo.fullName.lowercased()
        let inInstallation = installations[token.installationID]?.repositories.contains { $0.lowercased() == full } ?? false
        let inToken = token.repositories.map { $0.contains { $0.lowercased() == full } } ?? true
        guard inInstallation, inToken else { throw Failure.notAccessible }
        guard permissions.contains(where: { token.allows($0.0, $0.1) }) else { throw Failure.notAccessible }
        return (repo, token)
    }

    private func getRepo(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("contents", "read"), ("metadata", "read")])
        return .json(200, ["full_name": repo.fullName, "name": repo.name, "owner": ["login": repo.owner],
                           "default_branch": repo.defaultBranch, "private": repo.isPrivate] as [String: Any])
    }

    private func getBranch(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("contents", "read")])
        let name = req.parameter("branch") ?? ""
        guard let sha = repo.branches[name] else { throw Failure(status: 404, message: "Branch not found") }
        return .json(200, ["name": name, "commit": ["sha": sha], "protected": false] as [String: Any])
    }

    private func getRef(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("contents", "read")])
        let name = req.parameter("branch") ?? ""
        guard let sha = repo.branches[name] else { throw Failure.notFound }
        return .json(200, ["ref": "refs/heads/\(name)", "object": ["sha": sha, "type": "commit"]] as [String: Any])
    }

    private func pullJSON(_ repo: Repository, _ p: PullRequest) -> [String: Any] {
        // As GitHub: `head.repo` and `base.repo` are repository objects; the label is
        // "<head repo owner>:<ref>", so a fork's head is not a branch of this repository.
        func repoJSON(_ fullName: String) -> [String: Any] {
            let parts = fullName.split(separator: "/", maxSplits: 1).map(String.init)
            return ["full_name": fullName, "name": parts.last ?? fullName, "owner": ["login": parts.first ?? ""],
                    "fork": fullName.lowercased() != repo.fullName.lowercased()]
        }
        let headRepo = p.headRepository ?? repo.fullName
        let headOwner = p.headOwner(in: repo)
        return ["number": p.number, "state": p.state, "draft": p.draft, "title": p.title, "body": p.body,
                "html_url": "https://github.example/\(repo.fullName)/pull/\(p.number)",
                "head": ["ref": p.headRef, "sha": p.headSHA, "label": "\(headOwner):\(p.headRef)", "repo": repoJSON(headRepo)],
                "base": ["ref": p.baseRef, "sha": repo.branches[p.baseRef] ?? "", "label": "\(repo.owner):\(p.baseRef)",
                         "repo": repoJSON(repo.fullName)]]
    }

    private func getPull(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "read"), ("contents", "read")])
        guard let n = req.parameter("number").flatMap(Int.init), let p = repo.pulls[n] else { throw Failure.notFound }
        return .json(200, pullJSON(repo, p))
    }

    private func listPulls(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "read"), ("contents", "read")])
        let wantedState = req.queryValue("state") ?? "open"
        let head = req.queryValue("head")
        let base = req.queryValue("base")
        let list = repo.pulls.values.sorted { $0.number > $1.number }.filter { p in
            (wantedState == "all" || p.state == wantedState)
                && (head == nil || head == "\(p.headOwner(in: repo)):\(p.headRef)"
                    || (head == p.headRef && p.headRepository == nil))
                && (base == nil || base == p.baseRef)
        }
        let data = (try? JSONSerialization.data(withJSONObject: list.map { pullJSON(repo, $0) }, options: [.sortedKeys]))
            ?? Data("[]".utf8)
        return .json(200, data: data)
    }

    private func createPull(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "write")])
        let o = try object(req)
        let title = try string(o, "title", required: true)!
        var head = try string(o, "head", required: true)!
        let base = try string(o, "base", required: true)!
        let body = try string(o, "body", required: false, nullable: true) ?? ""
        let draft = try bool(o, "draft") ?? false
        _ = try bool(o, "maintainer_can_modify")
        if let colon = head.firstIndex(of: ":") {
            guard head[..<colon].lowercased() == repo.owner.lowercased() else {
                throw Failure(status: 422, message: "Validation Failed",
                              errors: [["resource": "PullRequest", "field": "head", "code": "invalid"]])
            }
            head = String(head[head.index(after: colon)...])
        }
        guard !title.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw Failure(status: 422, message: "Validation Failed",
                          errors: [["resource": "PullRequest", "field": "title", "code": "missing_field"]])
        }
        let created = try state.withLock { s -> (Repository, PullRequest) in
            let key = repo.fullName.lowercased()
            guard var current = s.repos[key] else { throw Failure.notFound }
            guard let baseSHA = current.branches[base] else {
                throw Failure(status: 422, message: "Validation Failed",
                              errors: [["resource": "PullRequest", "field": "base", "code": "invalid"]])
            }
            let headSHA = current.branches[head]
            if headSHA == nil && !options.allowUnknownHeadBranch {
                throw Failure(status: 422, message: "Validation Failed",
                              errors: [["resource": "PullRequest", "field": "head", "code": "invalid"]])
            }
            if head == base || headSHA == baseSHA {
                throw Failure(status: 422, message: "Validation Failed",
                              errors: [["resource": "PullRequest", "code": "custom",
                                        "message": "No commits between \(base) and \(head)"]])
            }
            if current.pulls.values.contains(where: { $0.state == "open" && $0.headRepository == nil && $0.headRef == head
                && $0.baseRef == base }) {
                throw Failure(status: 422, message: "Validation Failed",
                              errors: [["resource": "PullRequest", "code": "custom",
                                        "message": "A pull request already exists for \(current.owner):\(head)."]])
            }
            let number = max(current.pulls.keys.max() ?? 0, s.created.filter { $0.repository == current.fullName }
                .map(\.number).max() ?? 0) + 1
            let p = PullRequest(number: number, headRef: head, headSHA: headSHA ?? String(repeating: "0", count: 40),
                                baseRef: base, title: title, body: body, draft: draft)
            current.pulls[number] = p
            s.repos[key] = current
            s.created.append(CreatedPullRequest(number: number, repository: current.fullName, title: title,
                                                head: head, base: base, body: body, draft: draft))
            return (current, p)
        }
        return .json(201, pullJSON(created.0, created.1))
    }

    // MARK: Check runs

    static let checkStatuses: Set<String> = ["queued", "in_progress", "completed"]
    static let conclusions: Set<String> = ["action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"]

    private struct CheckFields {
        var name: String?
        var headSHA: String?
        var status: String?
        var conclusion: String?
        var outputTitle: String?
        var outputSummary: String?
        var detailsURL: String?
        var externalID: String?
        var annotations: [Annotation] = []
    }

    private func checkFields(_ o: [String: JSONValue], creating: Bool) throws -> CheckFields {
        var f = CheckFields()
        f.name = try string(o, "name", required: creating)
        if let n = f.name, n.trimmingCharacters(in: .whitespaces).isEmpty { throw Failure.invalid("name must not be empty.") }
        f.headSHA = creating ? try string(o, "head_sha", required: true) : nil
        f.status = try string(o, "status", required: false)
        if let s = f.status, !Self.checkStatuses.contains(s) {
            throw Failure.invalid("For 'properties/status', \"\(s)\" is not one of \(Self.checkStatuses.sorted()).")
        }
        f.conclusion = try string(o, "conclusion", required: false, nullable: true)
        if let c = f.conclusion {
            guard Self.conclusions.contains(c) else {
                throw Failure.invalid("For 'properties/conclusion', \"\(c)\" is not one of \(Self.conclusions.sorted()).")
            }
        }
        for key in ["started_at", "completed_at"] {
            if let t = try string(o, key, required: false), Self.parseTimestamp(t) == nil {
                throw Failure.invalid("For 'properties/\(key)', \"\(t)\" is not a date-time.")
            }
        }
        if let output = o["output"] {
            guard let out = output.objectValue else { throw Failure.invalid("For 'properties/output', \(output) is not an object.") }
            f.outputTitle = try string(out, "title", required: true, path: "output/")
            f.outputSummary = try string(out, "summary", required: true, path: "output/")
            let text = try string(out, "text", required: false, path: "output/")
            if f.outputSummary!.count > 65_535 || (text?.count ?? 0) > 65_535 {
                throw Failure(status: 422, message: "Invalid request.\n\nOnly 65535 characters are allowed; "
                              + "\(max(f.outputSummary!.count, text?.count ?? 0)) were supplied.")
            }
            if let list = out["annotations"] { f.annotations = try annotations(list) }
        }
        f.detailsURL = try string(o, "details_url", required: false)
        f.externalID = try string(o, "external_id", required: false)
        return f
    }

    private func checkRunJSON(_ c: CheckRun) -> [String: Any] {
        var o: [String: Any] = ["id": c.id, "name": c.name, "head_sha": c.headSHA, "status": c.status,
                                "conclusion": c.conclusion ?? NSNull(),
                                "html_url": "https://github.example/\(c.repository)/runs/\(c.id)"]
        if let t = c.outputTitle { o["output"] = ["title": t, "summary": c.outputSummary ?? ""] }
        if let e = c.externalID { o["external_id"] = e }
        return o
    }

    private func createCheckRun(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, token) = try authorize(req, [("checks", "write")])
        let f = try checkFields(try object(req), creating: true)
        let sha = f.headSHA!
        guard sha.count == 40, sha.allSatisfy(\.isHexDigit), repo.knownCommits.contains(sha) else {
            throw Failure(status: 422, message: "No commit found for SHA: \(sha)")
        }
        var status = f.status ?? "queued"
        if f.conclusion != nil { status = "completed" }
        if status == "completed" && f.conclusion == nil {
            throw Failure.invalid("conclusion is required when status is completed.")
        }
        let run = state.withLock { s -> CheckRun in
            s.nextID += 1
            let run = CheckRun(id: s.nextID, repository: repo.fullName, name: f.name!, headSHA: sha, status: status,
                               conclusion: f.conclusion, outputTitle: f.outputTitle, outputSummary: f.outputSummary,
                               detailsURL: f.detailsURL, externalID: f.externalID, statusHistory: [status],
                               createdBy: token, annotations: f.annotations,
                               annotationBatches: f.annotations.isEmpty ? [] : [f.annotations.count])
            s.checkRuns.append(run)
            return run
        }
        return .json(201, checkRunJSON(run))
    }

    private func findCheckRun(_ req: HTTPRequest, _ repo: Repository) throws -> Int {
        guard let id = req.parameter("id").flatMap(Int64.init) else { throw Failure.notFound }
        guard let i = state.withLock({ $0.checkRuns.firstIndex { $0.id == id && $0.repository == repo.fullName } }) else {
            throw Failure.notFound
        }
        return i
    }

    /// GitHub's list for a ref: `check_name` filters by name; newest first.
    private func listCheckRuns(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("checks", "read")])
        let ref = req.parameter("ref") ?? ""
        let name = req.queryValue("check_name")
        let runs = state.withLock { s in
            s.checkRuns.filter { $0.repository == repo.fullName && $0.headSHA == ref && (name == nil || $0.name == name) }
        }.reversed()
        return .json(200, ["total_count": runs.count, "check_runs": runs.map(checkRunJSON)])
    }

    private func getCheckRun(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("checks", "read")])
        let i = try findCheckRun(req, repo)
        return .json(200, checkRunJSON(state.withLock { $0.checkRuns[i] }))
    }

    private func updateCheckRun(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("checks", "write")])
        let f = try checkFields(try object(req), creating: false)
        let i = try findCheckRun(req, repo)
        let run = try state.withLock { s -> CheckRun in
            var run = s.checkRuns[i]
            var status = f.status ?? run.status
            if f.conclusion != nil { status = "completed" }
            let conclusion = f.conclusion ?? run.conclusion
            if status == "completed" && conclusion == nil {
                throw Failure.invalid("conclusion is required when status is completed.")
            }
            if let n = f.name { run.name = n }
            run.conclusion = conclusion
            if status != run.statusHistory.last { run.statusHistory.append(status) }
            run.status = status
            if let t = f.outputTitle { run.outputTitle = t; run.outputSummary = f.outputSummary }
            if let d = f.detailsURL { run.detailsURL = d }
            if let e = f.externalID { run.externalID = e }
            if !f.annotations.isEmpty { run.annotations += f.annotations; run.annotationBatches.append(f.annotations.count) }
            s.checkRuns[i] = run
            return run
        }
        return .json(200, checkRunJSON(run))
    }

    // MARK: Comments

    private func commentJSON(_ c: Comment) -> [String: Any] {
        ["id": c.id, "body": c.body, "user": ["login": c.userLogin, "type": c.userType],
         "html_url": "https://github.example/\(c.repository)/issues/\(c.issue)#issuecomment-\(c.id)"]
    }

    private func commentBody(_ req: HTTPRequest) throws -> String {
        let body = try string(try object(req), "body", required: true)!
        guard !body.isEmpty else { throw Failure(status: 422, message: "Validation Failed",
                                                 errors: [["resource": "IssueComment", "field": "body", "code": "missing_field"]]) }
        guard body.count <= 65_536 else {
            throw Failure(status: 422, message: "Validation Failed",
                          errors: [["resource": "IssueComment", "code": "custom",
                                    "message": "Body is too long (maximum is 65536 characters)"]])
        }
        return body
    }

    private func listComments(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("issues", "read"), ("pull_requests", "read")])
        guard let issue = req.parameter("number").flatMap(Int.init), issue > 0 else { throw Failure.notFound }
        let perPage = min(100, max(1, req.queryValue("per_page").flatMap(Int.init) ?? 30))
        let page = max(1, req.queryValue("page").flatMap(Int.init) ?? 1)
        let all = state.withLock { $0.comments.filter { $0.repository == repo.fullName && $0.issue == issue } }
        let slice = Array(all.dropFirst((page - 1) * perPage).prefix(perPage))
        var headers = HTTPHeaders()
        if page * perPage < all.count {
            headers.add("Link", "<\(options.pathPrefix)\(req.path)?per_page=\(perPage)&page=\(page + 1)>; rel=\"next\"")
        }
        let data = (try? JSONSerialization.data(withJSONObject: slice.map(commentJSON), options: [.sortedKeys]))
            ?? Data("[]".utf8)
        return .json(200, data: data, headers: headers)
    }

    private func createComment(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("issues", "write")])
        guard let issue = req.parameter("number").flatMap(Int.init), issue > 0 else { throw Failure.notFound }
        let body = try commentBody(req)
        let c = state.withLock { s -> Comment in
            s.nextID += 1
            let c = Comment(id: s.nextID, repository: repo.fullName, issue: issue, body: body,
                            userLogin: "\(options.appSlug)[bot]", userType: "Bot", edits: 0)
            s.comments.append(c)
            return c
        }
        return .json(201, commentJSON(c))
    }

    private func updateComment(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("issues", "write")])
        guard let id = req.parameter("id").flatMap(Int64.init) else { throw Failure.notFound }
        let body = try commentBody(req)
        let c = try state.withLock { s -> Comment in
            guard let i = s.comments.firstIndex(where: { $0.id == id && $0.repository == repo.fullName }) else {
                throw Failure.notFound
            }
            s.comments[i].body = body
            s.comments[i].edits += 1
            return s.comments[i]
        }
        return .json(200, commentJSON(c))
    }

    // MARK: Collaborators

    /// `GET /repos/{o}/{r}/collaborators/{user}/permission`: metadata read suffices (every
    /// installation token has it); 404 for a user who is not a collaborator.
    private func collaboratorPermission(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("metadata", "read")])
        let user = req.parameter("user") ?? ""
        guard let (permission, role) = state.withLock({ $0.collaborators[repo.fullName.lowercased()]?[user.lowercased()] }) else {
            throw Failure(status: 404, message: "\(user) is not a user")
        }
        return .json(200, ["permission": permission, "role_name": role,
                           "user": ["login": user, "type": "User"]] as [String: Any])
    }

    // MARK: - Helpers

    func object(_ req: HTTPRequest, optional: Bool = false) throws -> [String: JSONValue] {
        if req.body.isEmpty {
            if optional { return [:] }
            throw Failure(status: 400, message: "Problems parsing JSON")
        }
        guard let value = try? JSONValue.parse(req.body) else { throw Failure(status: 400, message: "Problems parsing JSON") }
        guard let o = value.objectValue else { throw Failure.invalid("Body must be a JSON object.") }
        return o
    }

    func string(_ o: [String: JSONValue], _ key: String, required: Bool, nullable: Bool = false,
                        path: String = "") throws -> String? {
        guard let v = o[key] else {
            if required { throw Failure.invalid("For 'properties/\(path)\(key)', nil is not a string.") }
            return nil
        }
        if case .null = v, nullable, !required { return nil }
        guard let s = v.stringValue else { throw Failure.invalid("For 'properties/\(path)\(key)', \(v) is not a string.") }
        return s
    }

    func bool(_ o: [String: JSONValue], _ key: String) throws -> Bool? {
        guard let v = o[key] else { return nil }
        guard case .bool(let b) = v else { throw Failure.invalid("For 'properties/\(key)', \(v) is not a boolean.") }
        return b
    }

    static func level(_ s: String?) -> Int {
        switch s { case "read": 1; case "write": 2; case "admin": 3; default: 0 }
    }

    private static func randomToken() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return "ghs_" + String((0..<36).map { _ in alphabet[Int(rng.next(upperBound: UInt(alphabet.count)))] })
    }

    static func timestamp(_ d: Date) -> String { GitHubClient.timestamp(d) }
    static func parseTimestamp(_ s: String) -> Date? { GitHubClient.parseTimestamp(s) }
}
