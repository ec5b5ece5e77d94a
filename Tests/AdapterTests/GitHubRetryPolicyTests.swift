import Foundation
import XCTest
@testable import Adapter
@testable import HTTP

/// The retry decision on its own: which responses are retried and after how long.
final class GitHubRetryPolicyTests: XCTestCase {
    private let policy = GitHubRetryPolicy(maxRetries: 3, maxWait: 60, baseDelay: 1)
    private let now = Date(timeIntervalSince1970: 1_700_000_000)

    private func verdict(_ status: Int, _ headers: [String: String] = [:], message: String? = nil,
                         retries: Int = 0) -> GitHubRetryPolicy.Verdict {
        let lower = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        return policy.verdict(status: status, header: { lower[$0.lowercased()] }, message: message,
                              retriesSoFar: retries, now: now)
    }

    func testServerErrorsBackOffExponentially() {
        XCTAssertEqual([0, 1, 2].map { verdict(502, retries: $0) }, [.retry(after: 1), .retry(after: 2), .retry(after: 4)])
    }

    func testServerErrorHonoursRetryAfter() {
        XCTAssertEqual(verdict(503, ["Retry-After": "5"]), .retry(after: 5))
    }

    func testRetriesStopAtTheBound() {
        XCTAssertEqual(verdict(500, retries: 3), .giveUp(rateLimited: false, wait: nil))
    }

    func testPlain403IsNotARateLimit() {
        XCTAssertEqual(verdict(403, message: "Resource not accessible by integration"), .giveUp(rateLimited: false, wait: nil),
                       "a permission 403 must fail at once")
    }

    func testSecondaryRateLimit403WithoutHeadersWaitsAMinute() {
        XCTAssertEqual(verdict(403, message: "You have exceeded a secondary rate limit."), .retry(after: 60))
    }

    func testPrimaryRateLimitWaitsUntilReset() {
        let reset = String(Int(now.timeIntervalSince1970) + 42)
        XCTAssertEqual(verdict(403, ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset]), .retry(after: 42))
    }

    func testRemainingAboveZeroIsNotARateLimit() {
        let reset = String(Int(now.timeIntervalSince1970) + 42)
        XCTAssertEqual(verdict(403, ["X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset]),
                       .giveUp(rateLimited: false, wait: nil))
    }

    func testWaitBeyondTheBoundGivesUpNamingTheWait() {
        XCTAssertEqual(verdict(429, ["Retry-After": "900"]), .giveUp(rateLimited: true, wait: 900))
    }

    func testOther4xxNeverRetry() {
        for status in [400, 401, 404, 409, 422] {
            XCTAssertEqual(verdict(status), .giveUp(rateLimited: false, wait: nil), "HTTP \(status) must not be retried")
        }
    }

}

/// Loading the App's key from its PEM file.
final class GitHubAppCredentialsTests: XCTestCase {
    func testCredentialsLoadFromAPEMFileAndSignAcceptedJWTs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gh-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var pem = try GitHubFixture.key.exportPrivateKeyPEM(.pkcs1)
        defer { ConstantTime.zero(&pem) }
        let path = dir.appendingPathComponent("app.pem").path
        try Data(pem).write(to: URL(fileURLWithPath: path))
        let creds = try GitHubAppCredentials(appID: GitHubFixture.appID, privateKeyPath: path)
        let claims = JWT.verifyRS256(token: try creds.appJWT(), publicKeyPEM: try GitHubFixture.key.publicKeyPEM())
        XCTAssertEqual(claims?.iss, GitHubFixture.appID, "a JWT from the key file must verify with the App's public key")
    }

    func testMissingKeyFileErrorNamesThePathOnly() {
        XCTAssertThrowsError(try GitHubAppCredentials(appID: "1", privateKeyPath: "/nonexistent/app.pem")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/app.pem"), "the error should name the key path: \(error)")
        }
    }
}
