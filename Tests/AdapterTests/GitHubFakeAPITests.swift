import Foundation
import XCTest
import Supervisor
@testable import Adapter
@testable import HTTP

/// The fake GitHub refuses what GitHub refuses. Raw requests (our blocking HTTPClient),
/// so the client's own good manners do not hide a lax fake.
final class GitHubFakeAPITests: GitHubTestCase {
    private let http = HTTPClient(keepAlive: false)

    private func headers(_ auth: String?, userAgent: String? = "tests", accept: String? = GitHubClient.mediaType,
                         version: String? = GitHubClient.apiVersion) -> HTTPHeaders {
        var h = HTTPHeaders()
        if let auth { h.add("Authorization", auth) }
        if let userAgent { h.add("User-Agent", userAgent) }
        if let accept { h.add("Accept", accept) }
        if let version { h.add("X-GitHub-Api-Version", version) }
        h.add("Content-Type", "application/json")
        return h
    }

    private func send(_ method: String, _ path: String, _ headers: HTTPHeaders, json: String? = nil) throws -> HTTPClientResponse {
        let url = try XCTUnwrap(fake.baseURL).absoluteString + path
        return try http.request(method, url, headers: headers, body: json.map { Data($0.utf8) })
    }

    private func publicationToken() async throws -> String {
        try await client().publicationToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo).token
    }

    private func message(_ r: HTTPClientResponse) -> String {
        (try? JSONValue.parse(r.body))?.objectValue?["message"]?.stringValue ?? ""
    }

    func testMissingUserAgentIs403() async throws {
        let token = try await publicationToken()
        let r = try send("GET", "/repos/acme/widgets", headers("token \(token)", userAgent: nil))
        XCTAssertEqual(r.status, 403, "GitHub refuses requests without User-Agent")
        XCTAssertTrue(message(r).contains("User-Agent"), "the refusal should say why: \(message(r))")
    }

    func testWrongAcceptIs415AndMissingVersionIs400() async throws {
        let token = try await publicationToken()
        XCTAssertEqual(try send("GET", "/repos/acme/widgets", headers("token \(token)", accept: "text/html")).status, 415)
        XCTAssertEqual(try send("GET", "/repos/acme/widgets", headers("token \(token)", version: nil)).status, 400)
    }

    func testUnknownTokenIs401BadCredentials() throws {
        let r = try send("GET", "/repos/acme/widgets", headers("token ghs_" + String(repeating: "x", count: 36)))
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(message(r), "Bad credentials")
    }

    func testExpiredTokenIs401() async throws {
        fake.setTokenLifetime(-1)
        let token = try await publicationToken()
        XCTAssertEqual(try send("GET", "/repos/acme/widgets", headers("token \(token)")).status, 401,
                       "an installation token past expires_at must be refused")
    }

    func testAppEndpointRefusesAnInstallationToken() async throws {
        let token = try await publicationToken()
        let r = try send("POST", "/app/installations/77/access_tokens", headers("Bearer \(token)"), json: "{}")
        XCTAssertEqual(r.status, 401, "/app endpoints take only an App JWT")
    }

    func testUnknownInstallationIs404() async throws {
        let e = await expectAPIError("unknown installation") {
            try await self.client().createInstallationToken(installationID: 999, scope: .publication(repository: GitHubFixture.repo))
        }
        XCTAssertEqual(e?.status, 404)
        XCTAssertTrue(e?.hint?.contains("installation") ?? false, "the error should hint at the installation id")
    }

    func testPermissionBeyondTheInstallationIs422() async throws {
        let e = await expectAPIError("administration:write") {
            try await self.client().createInstallationToken(
                installationID: GitHubFixture.installationID,
                scope: InstallationTokenScope(permissions: ["administration": "write"]))
        }
        XCTAssertEqual(e?.status, 422, "a token cannot be given more than the installation has")
    }

    func testCheckRunBodiesAreValidated() async throws {
        let auth = "token \(try await publicationToken())"
        let sha = GitHubFixture.mainSHA
        let cases: [(String, String)] = [
            (#"{"head_sha":"\#(sha)"}"#, "missing name"),
            (#"{"name":"x"}"#, "missing head_sha"),
            (#"{"name":5,"head_sha":"\#(sha)"}"#, "name not a string"),
            (#"{"name":"x","head_sha":"\#(sha)","status":"completed"}"#, "completed without conclusion"),
            (#"{"name":"x","head_sha":"\#(sha)","conclusion":"stale"}"#, "stale is GitHub's alone"),
            (#"{"name":"x","head_sha":"\#(sha)","status":"done"}"#, "unknown status"),
            (#"{"name":"x","head_sha":"\#(sha)","output":{"title":"t"}}"#, "output without summary"),
        ]
        for (body, why) in cases {
            let r = try send("POST", "/repos/acme/widgets/check-runs", headers(auth), json: body)
            XCTAssertEqual(r.status, 422, "\(why) must be 422, got \(r.status) \(message(r))")
        }
        XCTAssertTrue(fake.checkRuns.isEmpty, "no invalid check run may be stored")
    }

    func testCheckRunOnAnUnknownCommitIs422() async throws {
        let r = try send("POST", "/repos/acme/widgets/check-runs", headers("token \(try await publicationToken())"),
                         json: #"{"name":"x","head_sha":"\#(String(repeating: "9", count: 40))"}"#)
        XCTAssertEqual(r.status, 422)
        XCTAssertTrue(message(r).contains("No commit found"), message(r))
    }

    func testUnparseableJSONIs400() async throws {
        let r = try send("POST", "/repos/acme/widgets/check-runs", headers("token \(try await publicationToken())"),
                         json: "{name:")
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(message(r), "Problems parsing JSON")
    }

    func testPullRequestBodiesAreValidated() async throws {
        let auth = "token \(try await publicationToken())"
        let cases: [(String, String)] = [
            (#"{"head":"coven/fix-12","base":"main"}"#, "missing title"),
            (#"{"title":"t","head":"coven/fix-12","base":"nope"}"#, "unknown base"),
            (#"{"title":"t","head":"never-pushed","base":"main"}"#, "unknown head"),
            (#"{"title":"t","head":"main","base":"main"}"#, "no commits between"),
            (#"{"title":"t","head":"coven/fix-12","base":"main","draft":"yes"}"#, "draft not a boolean"),
        ]
        for (body, why) in cases {
            let r = try send("POST", "/repos/acme/widgets/pulls", headers(auth), json: body)
            XCTAssertEqual(r.status, 422, "\(why) must be 422, got \(r.status) \(message(r))")
        }
        XCTAssertTrue(fake.pullRequestsCreated.isEmpty)
    }

    func testCommentBodiesAreValidated() async throws {
        let auth = "token \(try await publicationToken())"
        for (body, why) in [(#"{}"#, "missing body"), (#"{"body":""}"#, "empty body"), (#"{"body":3}"#, "body not a string")] {
            let r = try send("POST", "/repos/acme/widgets/issues/12/comments", headers(auth), json: body)
            XCTAssertEqual(r.status, 422, "\(why) must be 422, got \(r.status)")
        }
    }

    func testCommentsRequireIssuesWrite() async throws {
        let git = try await client().gitToken(installationID: GitHubFixture.installationID, repository: GitHubFixture.repo)
        let r = try send("POST", "/repos/acme/widgets/issues/12/comments", headers("token \(git.token)"), json: #"{"body":"hi"}"#)
        XCTAssertEqual(r.status, 403, "a contents-only token must not comment")
        XCTAssertEqual(message(r), "Resource not accessible by integration")
    }

    func testCallsAreRecordedWithTheTokenUsed() async throws {
        let c = try client()
        _ = try await c.repository(widgets, auth: .installation(GitHubFixture.installationID))
        let call = try XCTUnwrap(fake.calls("GET", pathSuffix: "/repos/acme/widgets").last)
        XCTAssertEqual(call.status, 200)
        XCTAssertEqual(call.token?.id, 1, "the call should be attributed to the first issued token")
        XCTAssertEqual(call.token?.permissions["checks"], "write", "the recorded scope is the token's")
    }

    func testCommentListingPaginates() async throws {
        for i in 0..<130 { fake.addComment(GitHubFixture.fullName, issue: 5, body: "c\(i)") }
        let all = try await client().issueComments(widgets, issue: 5, auth: .installation(GitHubFixture.installationID))
        XCTAssertEqual(all.count, 130, "the client must follow the second page")
        XCTAssertEqual(fake.calls("GET", pathSuffix: "/issues/5/comments").count, 2, "two pages of 100")
    }
}
