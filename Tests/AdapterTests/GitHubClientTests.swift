import Foundation
import XCTest
import Supervisor
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP

/// The GitHub App client against the fake GitHub, over real sockets.
final class GitHubClientTests: GitHubTestCase {

    // MARK: App JWT

    func testAppJWTIsAcceptedByTheFake() async throws {
        let app = try await client().app()
        XCTAssertEqual(app.id, 4242, "GET /app should answer with the App the JWT names")
        XCTAssertEqual(fake.calls("GET", pathSuffix: "/app").last?.auth, .appJWT(valid: true),
                       "the fake did not see a valid App JWT on GET /app")
    }

    func testJWTSignedWithAnotherKeyIs401WithAClearError() async throws {
        let c = try client(key: GitHubFixture.otherKey)
        let e = await expectAPIError("token with a foreign key") {
            try await c.createInstallationToken(installationID: GitHubFixture.installationID, scope: .publication(repository: GitHubFixture.repo))
        }
        XCTAssertEqual(e?.status, 401, "a JWT signed with the wrong key must be refused with 401")
        XCTAssertEqual(e?.endpoint, "POST /app/installations/77/access_tokens", "the error must name the endpoint")
        XCTAssertTrue(e?.description.contains("App JWT was rejected") ?? false,
                      "the error should tell the operator the JWT was rejected: \(e?.description ?? "-")")
        XCTAssertTrue(fake.tokensIssued.isEmpty, "no token may be issued for a bad JWT")
    }

    func testExpiredJWTIs401() async throws {
        let past = Date().addingTimeInterval(-3600)
        let c = try client(clock: { past })
        let e = await expectAPIError("token with an expired JWT") {
            try await c.createInstallationToken(installationID: GitHubFixture.installationID, scope: .publication(repository: GitHubFixture.repo))
        }
        XCTAssertEqual(e?.status, 401, "a JWT that expired must be refused with 401")
        XCTAssertTrue(e?.message.contains("Expiration time") ?? false,
                      "GitHub's complaint about exp should reach the error: \(e?.message ?? "-")")
    }

    func testJWTForAnotherAppIDIs401() async throws {
        let e = await expectAPIError("token with the wrong iss") {
            try await self.client(appID: "999").app()
        }
        XCTAssertEqual(e?.status, 401, "a JWT whose iss is not the App id must be refused")
    }

    func testTamperedJWTIsRefusedByTheFake() async throws {
        let jwt = try GitHubAppCredentials(appID: GitHubFixture.appID, privateKey: GitHubFixture.key).appJWT()
        var parts = jwt.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(Array(#"{"iat":1,"exp":99999999999,"iss":4242}"#.utf8))
        let url = try XCTUnwrap(fake.baseURL).absoluteString + "/app"
        let r = try HTTPClient().get(url, headers: ["Authorization": "Bearer " + parts.joined(separator: "."),
                                                    "User-Agent": "t", "Accept": GitHubClient.mediaType,
                                                    "X-GitHub-Api-Version": GitHubClient.apiVersion])
        XCTAssertEqual(r.status, 401, "a JWT whose payload was altered after signing must be refused")
    }

    // MARK: Installation tokens

    func testGitTokenIsContentsWriteOnOneRepositoryOnly() async throws {
        let token = try await client().gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let issued = try XCTUnwrap(fake.tokensIssued.last)
        XCTAssertEqual(issued.token, token.token, "the client must hand out the token the fake issued")
        XCTAssertEqual(issued.repositories, [GitHubFixture.fullName], "the git token must cover exactly one repository")
        XCTAssertEqual(issued.permissions["contents"], "write", "the git token must be able to push")
        XCTAssertEqual(Set(issued.permissions.keys), ["contents", "metadata"],
                       "the git token must carry no permission besides contents (and GitHub's implicit metadata)")
        let body = fake.calls("POST", pathSuffix: "/access_tokens").last?.json
        XCTAssertEqual(body, .object(["repositories": .array([.string("widgets")]),
                                      "permissions": .object(["contents": .string("write")])]),
                       "the mint request must narrow the token to the repository and contents:write")
    }

    func testGitTokenIsMintedFreshForEveryAttempt() async throws {
        let c = try client()
        let a = try await c.gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let b = try await c.gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        XCTAssertEqual(fake.tokensIssued.count, 2, "git tokens must never come from a cache")
        XCTAssertNotEqual(a.token, b.token, "each attempt must get a token of its own")
    }

    func testPublicationTokenScope() async throws {
        _ = try await client().publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let issued = try XCTUnwrap(fake.tokensIssued.last)
        XCTAssertEqual(issued.repositories, [GitHubFixture.fullName],
                       "the publication token must cover the task's repository only, not the whole installation")
        XCTAssertEqual(issued.permissions, ["checks": "write", "issues": "write", "pull_requests": "write",
                                            "contents": "read", "metadata": "read"],
                       "the publication token must be narrowed to checks/issues/pull_requests write and contents read")
    }

    func testPublicationTokenIsCachedAcrossCalls() async throws {
        let c = try client()
        let first = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        _ = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        let second = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        XCTAssertEqual(fake.tokensIssued.count, 1, "a token valid for another hour must be reused, not re-minted")
        XCTAssertEqual(first.token, second.token, "the cached token must be the one handed out")
    }

    func testPublicationTokenNearExpiryIsReminted() async throws {
        fake.setTokenLifetime(240)  // inside the 5-minute margin from the start
        let c = try client()
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        XCTAssertEqual(fake.tokensIssued.count, 2, "a token expiring within 5 minutes must be replaced")
    }

    func testConcurrentCallersShareOneMint() async throws {
        let c = try client()
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<5 { group.addTask { try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo).token } }
            var seen = Set<String>()
            for try await t in group { seen.insert(t) }
            XCTAssertEqual(seen.count, 1, "concurrent callers must all get the same token")
        }
        XCTAssertEqual(fake.tokensIssued.count, 1, "concurrent callers must share one mint")
    }

    func testRevokedPublicationTokenIsRemintedOnce() async throws {
        let c = try client()
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        fake.revokeAllTokens()
        let info = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        XCTAssertEqual(info.defaultBranch, "main", "after a 401 the call should succeed with a new token")
        XCTAssertEqual(fake.tokensIssued.count, 2, "a 401 must drop the cached token and mint exactly one more")
    }

    func testGitTokenCannotCreateCheckRuns() async throws {
        let c = try client()
        let git = try await c.gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let e = await expectAPIError("check run with the git token") {
            try await c.createCheckRun(self.widgets, name: "x", headSHA: GitHubFixture.mainSHA, status: .queued,
                                       auth: .token(git))
        }
        XCTAssertEqual(e?.status, 403, "a contents-only token must not create check runs")
        XCTAssertEqual(e?.message, "Resource not accessible by integration", "GitHub's message should be kept")
        XCTAssertTrue(fake.checkRuns.isEmpty, "no check run may exist after the refusal")
    }

    func testGitTokenCannotReachAnotherRepository() async throws {
        let c = try client()
        let git = try await c.gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let e = await expectAPIError("other repository with the git token") {
            try await c.branchHeadSHA(GitHubClient.Repo(owner: GitHubFixture.owner, name: GitHubFixture.otherRepo),
                                      branch: "trunk", auth: .token(git))
        }
        XCTAssertEqual(e?.status, 403, "a token narrowed to widgets must not read gadgets")
    }

    func testPublicationTokenCannotReachAnotherRepository() async throws {
        let c = try client()
        let token = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let e = await expectAPIError("other repository with the widgets publication token") {
            try await c.branchHeadSHA(GitHubClient.Repo(owner: GitHubFixture.owner, name: GitHubFixture.otherRepo),
                                      branch: "trunk", auth: .token(token))
        }
        XCTAssertEqual(e?.status, 403, "a publication token narrowed to widgets must not read gadgets")
    }

    func testARevokedTokenIsRefusedFromThenOn() async throws {
        let c = try client()
        let git = try await c.gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        try await c.revokeInstallationToken(git.token)
        XCTAssertEqual(fake.calls("DELETE", pathSuffix: "/installation/token").map(\.status), [204],
                       "GitHub answers a revocation 204")
        let e = await expectAPIError("a call with the revoked token") { try await c.repository(self.widgets, auth: .token(git)) }
        XCTAssertEqual(e?.status, 401, "a revoked token must be refused like an unknown one")
        XCTAssertEqual(fake.tokensRevoked.map(\.token), [git.token])
    }

    func testTokenForARepositoryOutsideTheInstallationIs422() async throws {
        let e = await expectAPIError("git token for a foreign repository") {
            try await self.client().gitToken(installationID: GitHubFixture.installationID, repository: "not-installed")
        }
        XCTAssertEqual(e?.status, 422, "GitHub refuses to narrow a token to a repository the installation lacks")
    }

    // MARK: Repository reads

    func testRepositoryBranchAndPullReads() async throws {
        let c = try client()
        let auth = GitHubClient.Auth.installation(GitHubFixture.installationID)
        let info = try await c.repository(widgets, auth: auth)
        let head = try await c.branchHeadSHA(widgets, branch: info.defaultBranch, auth: auth)
        let slashed = try await c.branchHeadSHA(widgets, branch: "feature/pr-7", auth: auth)
        let pull = try await c.pullRequest(widgets, number: GitHubFixture.prNumber, auth: auth)
        XCTAssertEqual(info.defaultBranch, "main")
        XCTAssertEqual(head, GitHubFixture.mainSHA, "the default branch head SHA")
        XCTAssertEqual(slashed, GitHubFixture.prHeadSHA, "a branch name with a slash must be percent-encoded as one segment")
        XCTAssertEqual([pull.headRef, pull.headSHA, pull.baseRef], ["feature/pr-7", GitHubFixture.prHeadSHA, "main"])
    }

    func testEveryRequestCarriesGitHubHeaders() async throws {
        let c = try client()
        _ = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        let calls = fake.calls
        XCTAssertEqual(calls.count, 2, "one mint and one read expected, got \(calls)")
        for call in calls {
            XCTAssertEqual(call.accept, "application/vnd.github+json", "\(call): Accept")
            XCTAssertEqual(call.apiVersion, "2022-11-28", "\(call): X-GitHub-Api-Version")
            XCTAssertEqual(call.userAgent, "coven-supervisor", "\(call): User-Agent")
        }
    }

    func testEnterpriseBaseURLWithPathPrefix() async throws {
        XCTAssertEqual(GitHubClient.enterpriseAPIBaseURL(host: "ghe.example.com")?.absoluteString,
                       "https://ghe.example.com/api/v3")
        let ghes = try GitHubFixture.makeFake(options: FakeGitHubAPI.Options(pathPrefix: "/api/v3"))
        defer { ghes.shutdown() }
        let c = try GitHubFixture.makeClient(ghes)
        let info = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        XCTAssertEqual(info.defaultBranch, "main", "a base URL with a path (GHES /api/v3) must be kept in every request")
    }

    // MARK: Retries

    func testRetriesOn502ThenSucceeds() async throws {
        let c = try client()
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        fake.injectFailure(status: 502, count: 2) { method, path in method == "GET" && path == "/repos/acme/widgets" }
        let info = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        XCTAssertEqual(info.defaultBranch, "main", "the third try should succeed")
        XCTAssertEqual(fake.calls("GET", pathSuffix: "/repos/acme/widgets").map(\.status), [502, 502, 200])
        XCTAssertEqual(sleeps.recorded, [1, 2], "5xx backoff should be 1 s then 2 s")
    }

    func testHonoursRetryAfter() async throws {
        let c = try client()
        fake.injectRateLimit(retryAfter: 7) { _, path in path.hasSuffix("/access_tokens") }
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        XCTAssertEqual(sleeps.recorded, [7], "the client must wait exactly what Retry-After says")
        XCTAssertEqual(fake.tokensIssued.count, 1, "the retried mint should succeed")
    }

    func testHonoursRateLimitReset() async throws {
        let c = try client()
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        fake.injectRateLimitExhausted(resetIn: 30) { method, _ in method == "GET" }
        _ = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        let wait = try XCTUnwrap(sleeps.recorded.first, "a primary rate limit must be waited out")
        XCTAssertTrue((28...31).contains(wait), "wait until X-RateLimit-Reset (≈30 s), got \(wait)")
    }

    func testGivesUpAfterTheRetryBound() async throws {
        let c = try client(maxRetries: 3)
        _ = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        fake.injectFailure(status: 503, count: 100) { method, _ in method == "GET" }
        let e = await expectAPIError("persistent 503") {
            try await c.repository(self.widgets, auth: .installation(GitHubFixture.installationID))
        }
        XCTAssertEqual(e?.status, 503)
        XCTAssertEqual(e?.attempts, 4, "three retries after the first try, then give up")
        XCTAssertEqual(fake.calls("GET").count, 4, "exactly four requests")
        XCTAssertEqual(sleeps.recorded.count, 3, "one wait before each retry")
    }

    func testRateLimitBeyondMaxWaitFailsAtOnce() async throws {
        let c = try client(maxWait: 60)
        fake.injectRateLimit(retryAfter: 3600)
        let e = await expectAPIError("hour-long rate limit") {
            try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        }
        XCTAssertEqual(e?.kind, .rateLimited, "a wait beyond the bound must fail as rate limited")
        XCTAssertTrue(sleeps.recorded.isEmpty, "the client must not sleep an hour (or at all) here")
        XCTAssertEqual(fake.calls.count, 1, "no retry when the wait exceeds the bound")
    }

    func testOther4xxFailAtOnce() async throws {
        let c = try client()
        let e = await expectAPIError("check run on an unknown commit") {
            try await c.createCheckRun(self.widgets, name: "x", headSHA: String(repeating: "f", count: 40), status: .queued,
                                       auth: .installation(GitHubFixture.installationID))
        }
        XCTAssertEqual(e?.status, 422)
        XCTAssertEqual(e?.attempts, 1, "a 422 must not be retried")
        XCTAssertTrue(sleeps.recorded.isEmpty, "no wait on a 4xx")
    }

    func testTransportFailureIsRetriedThenReported() async throws {
        let dead = try GitHubFixture.makeFake()
        let c = try GitHubFixture.makeClient(dead, sleeps: sleeps, maxRetries: 2)
        dead.shutdown()  // the port now refuses connections
        let e = await expectAPIError("connection refused") { try await c.app() }
        XCTAssertEqual(e?.kind, .transport, "no response must surface as a transport error")
        XCTAssertEqual(sleeps.recorded.count, 2, "connection failures are retried like 5xx")
    }

    func testRedirectToAnotherHostIsNotFollowed() async throws {
        let seen = LogLines()
        let elsewhere = HTTPServer(host: "127.0.0.1", port: 0, limits: HTTPServerLimits(shutdownGrace: 1)) { request in
            seen.log(request.headers["Authorization"] == nil ? "a request" : "a request with Authorization")
            return .json(200, ["id": 1] as [String: Any])
        }
        let otherPort = try elsewhere.start()
        defer { elsewhere.shutdown() }
        let redirector = HTTPServer(host: "127.0.0.1", port: 0, limits: HTTPServerLimits(shutdownGrace: 1)) { request in
            HTTPResponse(status: 301, headers: ["Location": "http://localhost:\(otherPort)\(request.path)"])
        }
        let port = try redirector.start()
        defer { redirector.shutdown() }
        let c = try GitHubClient(
            credentials: try GitHubAppCredentials(appID: GitHubFixture.appID, privateKey: GitHubFixture.key),
            configuration: GitHubClient.Configuration(apiBaseURL: URL(string: "http://127.0.0.1:\(port)")!,
                                                      retry: GitHubRetryPolicy(sleep: sleeps.sleep)))
        let e = await expectAPIError("cross-host redirect") { try await c.app() }
        XCTAssertEqual(e?.status, 301, "a redirect to another host must surface as an error, not be followed")
        XCTAssertTrue(seen.all.isEmpty, "the other host must never see a request (and its Authorization): \(seen.all)")
    }

    // MARK: Errors never carry secrets

    func test404NamesTheEndpointAndCarriesNoToken() async throws {
        let c = try client()
        let token = try await c.publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let e = await expectAPIError("unknown branch") {
            try await c.branchHeadSHA(self.widgets, branch: "nope", auth: .installation(GitHubFixture.installationID))
        }
        XCTAssertEqual(e?.status, 404)
        XCTAssertEqual(e?.endpoint, "GET /repos/acme/widgets/branches/nope", "the error must name the endpoint")
        XCTAssertEqual(e?.message, "Branch not found", "GitHub's message must be carried")
        let text = "\(e.map { String(describing: $0) } ?? "") \(e.map { String(reflecting: $0) } ?? "")"
        XCTAssertFalse(text.contains(token.token), "an error must never contain the installation token")
        XCTAssertFalse(text.contains("ghs_"), "an error must never contain a token shape")
        for line in logs.all { XCTAssertFalse(line.contains("ghs_"), "log line leaks a token: \(line)") }
    }

    func testDescriptionsHideTokensAndKeys() async throws {
        let creds = try GitHubAppCredentials(appID: GitHubFixture.appID, privateKey: GitHubFixture.key)
        let token = try await client().gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        var dumped = ""
        dump(token, to: &dumped)
        dump(creds, to: &dumped)
        let shown = "\(token) \(String(reflecting: token)) \(creds) \(String(reflecting: creds)) \(dumped)"
        XCTAssertFalse(shown.contains(token.token), "a token's description, debugDescription or dump shows the secret")
        XCTAssertFalse(shown.contains("PRIVATE KEY"), "credentials' descriptions show key material")
    }

    // MARK: Token provider

    func testGitTokenProviderMintsForTheTasksRepository() async throws {
        let provider = GitHubGitTokenProvider(client: try client())
        let token = try await provider.gitToken(for: GitHubFixture.issueTask())
        let issued = try XCTUnwrap(fake.tokensIssued.last)
        XCTAssertEqual(issued.token, token, "the provider must return the minted token")
        XCTAssertEqual(issued.repositories, [GitHubFixture.fullName], "scoped to the task's repository")
    }

    func testGitTokenProviderRefusesLocalTasks() async throws {
        let provider = GitHubGitTokenProvider(client: try client())
        let e = await expectAPIError("task without installation") {
            try await provider.gitToken(for: GitHubFixture.issueTask(installation: nil))
        }
        XCTAssertEqual(e?.kind, .configuration, "no installation means no token, said plainly")
        XCTAssertTrue(fake.calls.isEmpty, "nothing may be sent for a task without an installation")
    }
}
