import Foundation
import HTTP
import Supervisor

/// A GitHub App REST client (github.com or GitHub Enterprise Server).
///
/// - Authenticates as the App with a fresh RS256 JWT per request to `/app/*`, and as an
///   installation with narrowed installation tokens everywhere else.
/// - The publication token (checks, issues, pull requests: write; contents: read; on the
///   one repository called) is cached per installation and repository until
///   `publicationTokenMargin` before it expires; concurrent callers share one mint. A 401
///   with it drops it and re-mints once.
/// - The agent's git token (contents: write on one repository) is minted on every call to
///   `gitToken`, never cached; `revokeInstallationToken` ends it when the attempt does.
/// - Every request carries `Accept: application/vnd.github+json`,
///   `X-GitHub-Api-Version: 2022-11-28` and `User-Agent`.
/// - 5xx, rate limits and connection failures are retried as `GitHubRetryPolicy` says;
///   other errors throw `GitHubAPIError` at once, naming the endpoint and GitHub's
///   message. Errors and log lines never contain a token, the JWT or the key.
/// - Redirects are followed only to the API's own scheme, host and port, so an
///   `Authorization` header is never replayed elsewhere.
///
/// Methods throw `GitHubAPIError`, or `CancellationError` when the calling task is
/// cancelled while waiting to retry.
public final class GitHubClient: Sendable {
    public static let defaultAPIBaseURL = URL(string: "https://api.github.com")!
    public static let apiVersion = "2022-11-28"
    public static let mediaType = "application/vnd.github+json"

    /// The REST base of a GitHub Enterprise Server: `https://HOST/api/v3`.
    public static func enterpriseAPIBaseURL(host: String) -> URL? {
        let h = host.trimmingCharacters(in: .whitespaces)
        guard !h.isEmpty, !h.contains("/"), !h.contains("@") else { return nil }
        return URL(string: "https://\(h)/api/v3")
    }

    public struct Configuration: Sendable {
        /// `https://api.github.com`, `https://HOST/api/v3` (GHES), or a fake's `http://127.0.0.1:PORT`.
        public var apiBaseURL: URL
        public var userAgent: String
        public var retry: GitHubRetryPolicy
        /// Per-request timeout in seconds.
        public var requestTimeout: TimeInterval
        /// A cached publication token is replaced this long before it expires (default 5 min).
        public var publicationTokenMargin: TimeInterval
        /// The clock for JWTs, token expiry and rate-limit resets.
        public var clock: @Sendable () -> Date
        /// One line per retry or re-mint; never secrets.
        public var log: @Sendable (String) -> Void

        public init(apiBaseURL: URL = GitHubClient.defaultAPIBaseURL, userAgent: String = "coven-supervisor",
                    retry: GitHubRetryPolicy = GitHubRetryPolicy(), requestTimeout: TimeInterval = 30,
                    publicationTokenMargin: TimeInterval = 300,
                    clock: @escaping @Sendable () -> Date = { Date() },
                    log: @escaping @Sendable (String) -> Void = { _ in }) {
            self.apiBaseURL = apiBaseURL
            self.userAgent = userAgent
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.publicationTokenMargin = publicationTokenMargin
            self.clock = clock
            self.log = log
        }
    }

    /// How a repository call authenticates.
    public enum Auth: Sendable {
        /// The installation's cached publication token for the repository called.
        case installation(Int64)
        /// A specific installation token (e.g. the git token, in tests).
        case token(InstallationToken)
    }

    public let credentials: GitHubAppCredentials
    public let configuration: Configuration
    private let transport = CurlTransport()
    private let baseString: String
    private let tokenCache = InstallationTokenCache()

    public init(credentials: GitHubAppCredentials, configuration: Configuration = Configuration()) throws {
        var base = configuration.apiBaseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let scheme = configuration.apiBaseURL.scheme?.lowercased(), scheme == "https" || scheme == "http",
              configuration.apiBaseURL.host != nil, configuration.apiBaseURL.query == nil,
              configuration.apiBaseURL.user == nil, configuration.apiBaseURL.password == nil
        else {
            throw GitHubAPIError(kind: .configuration, endpoint: "-",
                                 message: "the API base URL must be http(s)://host[:port][/path] without credentials or query")
        }
        self.credentials = credentials
        self.configuration = configuration
        self.baseString = base
    }

    // MARK: - App

    public struct AppInfo: Sendable, Equatable {
        public var id: Int64
        public var slug: String?
        public var name: String?
    }

    /// `GET /app`: the authenticated App (checks the App id and key against GitHub).
    public func app() async throws -> AppInfo {
        struct Body: Decodable { var id: Int64; var slug: String?; var name: String? }
        let r = try await send("GET", "/app", credential: .appJWT)
        let b = try decode(Body.self, r, "GET /app")
        return AppInfo(id: b.id, slug: b.slug, name: b.name)
    }

    /// `POST /app/installations/{id}/access_tokens` with `scope` as the body. Not cached.
    public func createInstallationToken(installationID: Int64, scope: InstallationTokenScope) async throws
        -> InstallationToken
    {
        struct Body: Decodable {
            struct Repo: Decodable { var name: String }
            var token: String
            var expires_at: String
            var permissions: [String: String]?
            var repositories: [Repo]?
        }
        let path = "/app/installations/\(installationID)/access_tokens"
        let endpoint = "POST \(path)"
        let r = try await send("POST", path, credential: .appJWT, body: scope.requestBody)
        let b = try decode(Body.self, r, endpoint)
        guard !b.token.isEmpty, let expires = Self.parseTimestamp(b.expires_at) else {
            throw GitHubAPIError(kind: .invalidResponse, endpoint: endpoint, status: r.status,
                                 message: "no token or no valid expires_at in the answer")
        }
        return InstallationToken(token: b.token, installationID: installationID, expiresAt: expires,
                                 permissions: b.permissions ?? scope.permissions,
                                 repositories: b.repositories?.map { $0.name } ?? scope.repositories)
    }

    /// The agent's git token for one repository (`contents: write` on `repository` only, or
    /// `contents: read` when `readOnly`), freshly minted on every call. `repository` is the name (`owner/name` is accepted).
    public func gitToken(installationID: Int64, repository: String, readOnly: Bool = false) async throws -> InstallationToken {
        let name = repository.split(separator: "/").last.map(String.init) ?? repository
        guard !name.isEmpty else {
            throw GitHubAPIError(kind: .configuration, endpoint: "POST /app/installations/\(installationID)/access_tokens",
                                 message: "empty repository name")
        }
        return try await createInstallationToken(installationID: installationID,
                                                 scope: readOnly ? .gitRead(repository: name) : .gitPush(repository: name))
    }

    /// The publication token for one repository of an installation (its name; `owner/name`
    /// is accepted), cached until `publicationTokenMargin` before it expires.
    public func publicationToken(installationID: Int64, repository: String) async throws -> InstallationToken {
        let name = repository.split(separator: "/").last.map(String.init) ?? repository
        return try await tokenCache.token(.init(installationID: installationID, repository: name), now: configuration.clock(),
                                          margin: configuration.publicationTokenMargin) { [self] in
            try await createInstallationToken(installationID: installationID, scope: .publication(repository: name))
        }
    }

    /// `DELETE /installation/token`, authenticated with the token itself: GitHub refuses it
    /// from then on. Tried once (no retries): a token that could not be revoked still
    /// expires within the hour, and a caller ending an attempt must not wait for GitHub.
    public func revokeInstallationToken(_ token: String) async throws {
        _ = try await send("DELETE", "/installation/token", credential: .token(token), retry: .none)
    }

    // MARK: - Repositories

    /// A repository by owner and name.
    public struct Repo: Sendable, Hashable, CustomStringConvertible {
        public var owner: String
        public var name: String
        public init(owner: String, name: String) { self.owner = owner; self.name = name }
        public init(_ ref: RepoRef) { self.init(owner: ref.owner, name: ref.name) }
        public var description: String { "\(owner)/\(name)" }
        /// `/repos/{owner}/{name}` with each segment percent-encoded.
        var path: String { "/repos/" + GitHubClient.segment(owner) + "/" + GitHubClient.segment(name) }
    }

    public struct RepositoryInfo: Sendable, Equatable {
        public var fullName: String
        public var defaultBranch: String
        public var isPrivate: Bool
    }

    /// `GET /repos/{o}/{r}`.
    public func repository(_ repo: Repo, auth: Auth) async throws -> RepositoryInfo {
        struct Body: Decodable { var full_name: String?; var default_branch: String; var `private`: Bool? }
        let r = try await repoCall("GET", repo, repo.path, auth: auth)
        let b = try decode(Body.self, r, "GET \(repo.path)")
        return RepositoryInfo(fullName: b.full_name ?? repo.description, defaultBranch: b.default_branch,
                              isPrivate: b.private ?? false)
    }

    /// The head commit SHA of `branch` (`GET /repos/{o}/{r}/branches/{branch}`).
    public func branchHeadSHA(_ repo: Repo, branch: String, auth: Auth) async throws -> String {
        struct Body: Decodable { struct Commit: Decodable { var sha: String }; var commit: Commit }
        let path = repo.path + "/branches/" + Self.segment(branch)
        let r = try await repoCall("GET", repo, path, auth: auth)
        return try decode(Body.self, r, "GET \(path)").commit.sha
    }

    public struct PullRequestInfo: Sendable, Equatable {
        public var number: Int
        public var headRef: String
        public var headSHA: String
        public var baseRef: String
        public var state: String?
        public var draft: Bool?
        public var htmlURL: String?
        /// `head.repo.full_name`; nil when GitHub gives none (the fork was deleted).
        public var headRepository: String? = nil

        /// Whether the head branch lives in `repo` itself (not in a fork): only then can
        /// the task's token push to it.
        public func headIsIn(_ repo: Repo) -> Bool {
            headRepository?.lowercased() == repo.description.lowercased()
        }
    }

    private struct PullBody: Decodable {
        struct Ref: Decodable {
            struct Repository: Decodable { var full_name: String? }
            var ref: String; var sha: String?; var repo: Repository?
        }
        var number: Int
        var head: Ref
        var base: Ref
        var state: String?
        var draft: Bool?
        var html_url: String?
        var info: PullRequestInfo {
            PullRequestInfo(number: number, headRef: head.ref, headSHA: head.sha ?? "", baseRef: base.ref,
                            state: state, draft: draft, htmlURL: html_url, headRepository: head.repo?.full_name)
        }
    }

    /// `GET /repos/{o}/{r}/pulls/{n}`: head ref, SHA and repository, base ref.
    public func pullRequest(_ repo: Repo, number: Int, auth: Auth) async throws -> PullRequestInfo {
        let path = repo.path + "/pulls/\(number)"
        let r = try await repoCall("GET", repo, path, auth: auth)
        return try decode(PullBody.self, r, "GET \(path)").info
    }

    /// The open pull request from `head` (`owner:branch`, or a branch of `repo`) into
    /// `base` (any base when nil), if there is one.
    public func openPullRequest(_ repo: Repo, head: String, base: String? = nil, auth: Auth) async throws
        -> PullRequestInfo?
    {
        let qualified = head.contains(":") ? head : "\(repo.owner):\(head)"
        var query = [("state", "open"), ("head", qualified), ("per_page", "10")]
        if let base { query.append(("base", base)) }
        let path = repo.path + "/pulls"
        let r = try await repoCall("GET", repo, path, query: query, auth: auth)
        return try decode([PullBody].self, r, "GET \(path)").first?.info
    }

    /// `POST /repos/{o}/{r}/pulls`.
    public func createPullRequest(_ repo: Repo, title: String, head: String, base: String, body: String,
                                  draft: Bool = true, auth: Auth) async throws -> PullRequestInfo {
        let path = repo.path + "/pulls"
        let payload: JSONValue = .object(["title": .string(title), "head": .string(head), "base": .string(base),
                                          "body": .string(body), "draft": .bool(draft)])
        let r = try await repoCall("POST", repo, path, auth: auth, body: payload)
        return try decode(PullBody.self, r, "POST \(path)").info
    }

    // MARK: - Check Runs

    public enum CheckRunStatus: String, Sendable, Equatable, CaseIterable {
        case queued
        case inProgress = "in_progress"
        case completed
    }

    /// The conclusions an App may set (GitHub alone sets `stale`).
    public enum CheckRunConclusion: String, Sendable, Equatable, CaseIterable {
        case success, neutral, failure, cancelled, skipped
        case actionRequired = "action_required"
        case timedOut = "timed_out"

        /// The conclusion for how a task ended: a timeout is `timed_out` and a cancel
        /// `cancelled`, whatever else was recorded; otherwise the disposition's.
        public init(_ outcome: TaskOutcome) {
            if outcome.state == .cancelled { self = .cancelled; return }
            if outcome.timedOut { self = .timedOut; return }
            self.init(outcome.disposition)
        }

        /// The conclusion for a task's disposition.
        public init(_ disposition: Disposition) {
            switch disposition {
            case .success: self = .success
            case .neutral: self = .neutral
            case .failure: self = .failure
            case .actionRequired: self = .actionRequired
            case .cancelled: self = .cancelled
            }
        }
    }

    /// The text shown on the Check Run page. GitHub caps `summary` and `text` at 65535
    /// characters; longer values are cut (with a note) when sent.
    public struct CheckRunOutput: Sendable, Equatable {
        public static let maxLength = 65_535
        /// GitHub takes at most this many annotations per create or update request.
        public static let maxAnnotationsPerRequest = 50
        public var title: String
        public var summary: String
        public var text: String?
        /// At most `maxAnnotationsPerRequest` (GitHub refuses more; send the rest in further updates).
        public var annotations: [CheckRunAnnotation]
        public init(title: String, summary: String, text: String? = nil, annotations: [CheckRunAnnotation] = []) {
            self.title = title; self.summary = summary; self.text = text; self.annotations = annotations
        }
        var json: JSONValue {
            var o: [String: JSONValue] = ["title": .string(String(title.prefix(1000))),
                                          "summary": .string(GitHubClient.cut(summary, to: Self.maxLength))]
            if let text { o["text"] = .string(GitHubClient.cut(text, to: Self.maxLength)) }
            if !annotations.isEmpty { o["annotations"] = .array(annotations.map(\.json)) }
            return .object(o)
        }
    }

    /// A line-level note on a Check Run.
    public struct CheckRunAnnotation: Sendable, Equatable {
        public enum Level: String, Sendable, Equatable { case notice, warning, failure }
        public var path: String
        public var startLine: Int
        public var endLine: Int
        public var level: Level
        public var title: String
        public var message: String
        public init(path: String, startLine: Int, endLine: Int, level: Level, title: String, message: String) {
            self.path = path; self.startLine = startLine; self.endLine = endLine; self.level = level
            self.title = title; self.message = message
        }
        var json: JSONValue {
            .object(["path": .string(path), "start_line": .number(Double(startLine)), "end_line": .number(Double(endLine)),
                     "annotation_level": .string(level.rawValue), "title": .string(String(title.prefix(255))),
                     "message": .string(GitHubClient.cut(message, to: 64 * 1024 - 1))])
        }
    }

    public struct CheckRun: Sendable, Equatable {
        public var id: Int64
        public var name: String?
        public var headSHA: String?
        public var status: String?
        public var conclusion: String?
        public var htmlURL: String?
    }

    private struct CheckRunBody: Decodable {
        var id: Int64
        var name: String?
        var head_sha: String?
        var status: String?
        var conclusion: String?
        var html_url: String?
        var run: CheckRun {
            CheckRun(id: id, name: name, headSHA: head_sha, status: status, conclusion: conclusion, htmlURL: html_url)
        }
    }

    /// `POST /repos/{o}/{r}/check-runs`. `conclusion` (with `status: .completed`) creates
    /// it already finished.
    public func createCheckRun(_ repo: Repo, name: String, headSHA: String, status: CheckRunStatus,
                               conclusion: CheckRunConclusion? = nil, output: CheckRunOutput? = nil,
                               detailsURL: String? = nil, externalID: String? = nil, auth: Auth) async throws -> CheckRun {
        var o: [String: JSONValue] = ["name": .string(name), "head_sha": .string(headSHA),
                                      "status": .string(status.rawValue)]
        let now = Self.timestamp(configuration.clock())
        if status != .queued { o["started_at"] = .string(now) }
        if let conclusion { o["conclusion"] = .string(conclusion.rawValue); o["completed_at"] = .string(now) }
        if let output { o["output"] = output.json }
        if let detailsURL { o["details_url"] = .string(detailsURL) }
        if let externalID { o["external_id"] = .string(externalID) }
        let path = repo.path + "/check-runs"
        let r = try await repoCall("POST", repo, path, auth: auth, body: .object(o))
        return try decode(CheckRunBody.self, r, "POST \(path)").run
    }

    /// `GET /repos/{o}/{r}/commits/{ref}/check-runs?check_name=…`: the runs of that name on
    /// the commit (first page, newest first), with their `external_id`.
    public func checkRuns(_ repo: Repo, ref: String, name: String, auth: Auth) async throws -> [(run: CheckRun, externalID: String?)] {
        struct Page: Decodable {
            struct Entry: Decodable { var id: Int64; var name: String?; var head_sha: String?; var status: String?
                                      var conclusion: String?; var html_url: String?; var external_id: String? }
            var check_runs: [Entry]
        }
        let path = repo.path + "/commits/\(ref)/check-runs"
        let r = try await repoCall("GET", repo, path, query: [("check_name", name), ("filter", "all"), ("per_page", "100")],
                                   auth: auth)
        return try decode(Page.self, r, "GET \(path)").check_runs.map {
            (CheckRun(id: $0.id, name: $0.name, headSHA: $0.head_sha, status: $0.status, conclusion: $0.conclusion,
                      htmlURL: $0.html_url), $0.external_id)
        }
    }

    /// `PATCH /repos/{o}/{r}/check-runs/{id}`: only the given fields change.
    public func updateCheckRun(_ repo: Repo, id: Int64, status: CheckRunStatus? = nil,
                               conclusion: CheckRunConclusion? = nil, output: CheckRunOutput? = nil,
                               detailsURL: String? = nil, auth: Auth) async throws -> CheckRun {
        var o: [String: JSONValue] = [:]
        let now = Self.timestamp(configuration.clock())
        if let status {
            o["status"] = .string(status.rawValue)
            if status == .inProgress { o["started_at"] = .string(now) }
        }
        if let conclusion { o["conclusion"] = .string(conclusion.rawValue); o["completed_at"] = .string(now) }
        if let output { o["output"] = output.json }
        if let detailsURL { o["details_url"] = .string(detailsURL) }
        let path = repo.path + "/check-runs/\(id)"
        let r = try await repoCall("PATCH", repo, path, auth: auth, body: .object(o))
        return try decode(CheckRunBody.self, r, "PATCH \(path)").run
    }

    // MARK: - Issue comments

    public struct IssueComment: Sendable, Equatable {
        public var id: Int64
        public var body: String
        public var userLogin: String?
        /// "Bot" for App-authored comments, "User" for people.
        public var userType: String?
        public var htmlURL: String?
    }

    private struct CommentBody: Decodable {
        struct User: Decodable { var login: String?; var type: String? }
        var id: Int64
        var body: String?
        var user: User?
        var html_url: String?
        var comment: IssueComment {
            IssueComment(id: id, body: body ?? "", userLogin: user?.login, userType: user?.type, htmlURL: html_url)
        }
    }

    /// `GET /repos/{o}/{r}/issues/{n}/comments`, oldest first, following pages up to
    /// `maxPages` × 100 comments.
    public func issueComments(_ repo: Repo, issue: Int, auth: Auth, maxPages: Int = 10) async throws -> [IssueComment] {
        let path = repo.path + "/issues/\(issue)/comments"
        var all: [IssueComment] = []
        for page in 1...max(1, maxPages) {
            let r = try await repoCall("GET", repo, path, query: [("per_page", "100"), ("page", String(page))], auth: auth)
            let batch = try decode([CommentBody].self, r, "GET \(path)").map(\.comment)
            all += batch
            if batch.count < 100 || !(r.header("Link")?.contains(#"rel="next""#) ?? true) { break }
        }
        return all
    }

    /// `POST /repos/{o}/{r}/issues/{n}/comments`.
    public func createIssueComment(_ repo: Repo, issue: Int, body: String, auth: Auth) async throws -> IssueComment {
        let path = repo.path + "/issues/\(issue)/comments"
        let r = try await repoCall("POST", repo, path, auth: auth, body: .object(["body": .string(body)]))
        return try decode(CommentBody.self, r, "POST \(path)").comment
    }

    /// `PATCH /repos/{o}/{r}/issues/comments/{id}`.
    public func updateIssueComment(_ repo: Repo, commentID: Int64, body: String, auth: Auth) async throws -> IssueComment {
        let path = repo.path + "/issues/comments/\(commentID)"
        let r = try await repoCall("PATCH", repo, path, auth: auth, body: .object(["body": .string(body)]))
        return try decode(CommentBody.self, r, "PATCH \(path)").comment
    }

    // MARK: - Transport

    struct Response: Sendable {
        var status: Int
        var headers: [String: String]  // lowercased names
        var body: Data
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    enum Credential { case appJWT, token(String) }

    /// A call authenticated as an installation: the publication token (re-minted once on
    /// a 401) or the given token.
    func repoCall(_ method: String, _ repo: Repo, _ path: String, query: [(String, String)] = [], auth: Auth,
                          body: JSONValue? = nil) async throws -> Response {
        switch auth {
        case .token(let t):
            return try await send(method, path, query: query, credential: .token(t.token), body: body)
        case .installation(let id):
            let token = try await publicationToken(installationID: id, repository: repo.name)
            do {
                return try await send(method, path, query: query, credential: .token(token.token), body: body)
            } catch let e as GitHubAPIError where e.isHTTP(401) {
                configuration.log("github: \(method) \(path): installation token rejected (401); minting a new one")
                await tokenCache.invalidate(.init(installationID: id, repository: repo.name), token: token.token)
                let fresh = try await publicationToken(installationID: id, repository: repo.name)
                return try await send(method, path, query: query, credential: .token(fresh.token), body: body)
            }
        }
    }

    /// Sends one request, retrying as the policy says.
    func send(_ method: String, _ path: String, query: [(String, String)] = [], credential: Credential,
              body: JSONValue? = nil, retry: GitHubRetryPolicy? = nil) async throws -> Response {
        let endpoint = "\(method) \(path)"
        var target = baseString + path
        if !query.isEmpty {
            target += "?" + query.map { HTTPRequest.percentEncode($0.0) + "=" + HTTPRequest.percentEncode($0.1) }
                .joined(separator: "&")
        }
        guard var url = URL(string: target) else {
            throw GitHubAPIError(kind: .configuration, endpoint: endpoint, message: "cannot form a URL")
        }
        let policy = retry ?? configuration.retry
        var retries = 0
        var method = method
        var payload = body.map { Data($0.description.utf8) }
        var redirects = 0
        while true {
            try Task.checkCancellation()
            var headers = [("Accept", Self.mediaType), ("X-GitHub-Api-Version", Self.apiVersion),
                           ("User-Agent", configuration.userAgent)]
            switch credential {
            case .appJWT:
                let jwt: String
                do { jwt = try credentials.appJWT(now: configuration.clock()) } catch {
                    throw GitHubAPIError(kind: .configuration, endpoint: endpoint,
                                         message: "cannot sign the App JWT: \(error)")
                }
                headers.append(("Authorization", "Bearer \(jwt)"))
            case .token(let t):
                headers.append(("Authorization", "token \(t)"))
            }
            if payload != nil { headers.append(("Content-Type", "application/json; charset=utf-8")) }

            let response: Response
            do {
                let r = try await transport.perform(TransportRequest(method: method, url: url.absoluteString, headers: headers,
                                                                     body: payload, timeout: configuration.requestTimeout))
                response = Response(status: r.status, headers: r.headers, body: r.body)
            } catch let e as TransportError {
                if Task.isCancelled { throw CancellationError() }
                if e.isRetryable, case .retry(let wait) = policy.verdictAfterTransportFailure(retriesSoFar: retries) {
                    configuration.log("github: \(endpoint): \(e); retrying in \(Self.seconds(wait))")
                    try await policy.sleep(wait)
                    retries += 1
                    continue
                }
                throw GitHubAPIError(kind: .transport, endpoint: endpoint, message: e.description, attempts: retries + 1)
            }
            if (200...299).contains(response.status) { return response }
            // Redirects are followed on the API's own origin only, so credentials never travel elsewhere.
            if [301, 302, 303, 307, 308].contains(response.status), redirects < 5,
               let location = response.header("Location"), let next = URL(string: location, relativeTo: url)?.absoluteURL,
               Self.sameOrigin(next, configuration.apiBaseURL) {
                redirects += 1
                url = next
                if response.status == 303 { method = "GET"; payload = nil }
                continue
            }
            let data = response.body
            let message = Self.errorMessage(data, status: response.status)
            let verdict = policy.verdict(status: response.status, header: { response.header($0) }, message: message,
                                         retriesSoFar: retries, now: configuration.clock())
            switch verdict {
            case .retry(let wait):
                configuration.log("github: \(endpoint) answered HTTP \(response.status); retrying in \(Self.seconds(wait))"
                                  + " (retry \(retries + 1) of \(policy.maxRetries))")
                try await policy.sleep(wait)
                retries += 1
            case .giveUp(let rateLimited, let wait):
                if rateLimited {
                    let why = wait.map { "GitHub asks to wait \(Self.seconds($0)), more than the \(Self.seconds(policy.maxWait)) bound" }
                        ?? "still limited after \(retries) retries"
                    throw GitHubAPIError(kind: .rateLimited, endpoint: endpoint, status: response.status,
                                         message: "\(message) (\(why))", attempts: retries + 1)
                }
                throw GitHubAPIError(kind: .http, endpoint: endpoint, status: response.status, message: message,
                                     attempts: retries + 1)
            }
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ response: Response, _ endpoint: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: response.body)
        } catch {
            throw GitHubAPIError(kind: .invalidResponse, endpoint: endpoint, status: response.status,
                                 message: "the body is not the JSON expected (\(Self.decodingDetail(error)))")
        }
    }

    // MARK: - Helpers

    /// GitHub's `message`, plus the `errors` details of a 422, cut to 500 characters.
    static func errorMessage(_ data: Data, status: Int) -> String {
        guard let value = try? JSONValue.parse(data), let object = value.objectValue else {
            let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty || text.hasPrefix("<") ? HTTPResponse.reasonPhrase(for: status) : text
        }
        var message = object["message"]?.stringValue ?? HTTPResponse.reasonPhrase(for: status)
        if let errors = object["errors"]?.arrayValue, !errors.isEmpty {
            let parts: [String] = errors.prefix(5).compactMap { e in
                if let s = e.stringValue { return s }
                guard let o = e.objectValue else { return nil }
                if let m = o["message"]?.stringValue { return m }
                let field = o["field"]?.stringValue ?? "?"
                let code = o["code"]?.stringValue ?? "invalid"
                return "\(field) \(code)"
            }
            if !parts.isEmpty { message += " (" + parts.joined(separator: "; ") + ")" }
        }
        return String(message.prefix(500))
    }

    /// Same scheme, host and port (the port as written: GitHub's base URLs name none).
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        a.scheme?.lowercased() == b.scheme?.lowercased() && a.host?.lowercased() == b.host?.lowercased() && a.port == b.port
    }

    private static func decodingDetail(_ error: any Error) -> String {
        guard let d = error as? DecodingError else { return "not JSON" }
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch d {
        case .keyNotFound(let k, let c): return "missing \((path(c).isEmpty ? "" : path(c) + ".") + k.stringValue)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type at \(path(c))"
        case .dataCorrupted: return "not JSON"
        @unknown default: return "undecodable"
        }
    }

    /// One path segment, percent-encoded (a `/` in a branch name becomes `%2F`).
    static func segment(_ s: String) -> String { HTTPRequest.percentEncode(s) }

    static func cut(_ s: String, to max: Int) -> String {
        guard s.count > max else { return s }
        let note = "\n\n… (truncated)"
        return String(s.prefix(max - note.count)) + note
    }

    public static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    public static func parseTimestamp(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }

    static func seconds(_ t: TimeInterval) -> String {
        t == t.rounded() ? "\(Int(t)) s" : String(format: "%.1f s", t)
    }
}
