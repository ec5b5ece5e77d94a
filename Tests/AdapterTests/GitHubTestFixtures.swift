import Foundation
import Synchronization
import XCTest
import Supervisor
@testable import Adapter
@testable import AdapterTesting

/// Shared set-up for the GitHub client, fake and publisher tests: an App key generated
/// at test time (never committed), a fake GitHub with one installation over two
/// repositories, and a client whose retry sleeps are recorded instead of slept.
enum GitHubFixture {
    static let appID = "4242"
    static let installationID: Int64 = 77
    static let owner = "acme"
    static let repo = "widgets"
    static let otherRepo = "gadgets"
    static let fullName = "acme/widgets"

    static let mainSHA = String(repeating: "a", count: 40)
    static let featureSHA = String(repeating: "b", count: 40)
    static let prHeadSHA = String(repeating: "c", count: 40)
    static let prNumber = 7

    /// One key per test process (generation is the slow part).
    static let key: RSAPrivateKey = try! RSAPrivateKey.generate(bits: 2048)
    /// A key GitHub does not know.
    static let otherKey: RSAPrivateKey = try! RSAPrivateKey.generate(bits: 2048)

    static func repositories() -> [FakeGitHubAPI.Repository] {
        [
            FakeGitHubAPI.Repository(
                owner: owner, name: repo, defaultBranch: "main",
                branches: ["main": mainSHA, "coven/fix-12": featureSHA, "feature/pr-7": prHeadSHA],
                pulls: [FakeGitHubAPI.PullRequest(number: prNumber, headRef: "feature/pr-7", headSHA: prHeadSHA,
                                                  baseRef: "main", title: "Existing PR")]),
            FakeGitHubAPI.Repository(owner: owner, name: otherRepo, defaultBranch: "trunk",
                                     branches: ["trunk": String(repeating: "d", count: 40)]),
        ]
    }

    static func makeFake(options: FakeGitHubAPI.Options = FakeGitHubAPI.Options()) throws -> FakeGitHubAPI {
        let fake = try FakeGitHubAPI(
            appID: appID, publicKeyPEM: try key.publicKeyPEM(),
            installations: [FakeGitHubAPI.Installation(id: installationID, repositories: [fullName, "\(owner)/\(otherRepo)"])],
            repositories: repositories(), options: options)
        try fake.start()
        return fake
    }

    static func makeClient(_ fake: FakeGitHubAPI, key: RSAPrivateKey = GitHubFixture.key, appID: String = GitHubFixture.appID,
                           sleeps: SleepRecorder = SleepRecorder(), maxRetries: Int = 3, maxWait: TimeInterval = 60,
                           clock: @escaping @Sendable () -> Date = { Date() },
                           log: @escaping @Sendable (String) -> Void = { _ in }) throws -> GitHubClient {
        let retry = GitHubRetryPolicy(maxRetries: maxRetries, maxWait: maxWait, baseDelay: 1, sleep: sleeps.sleep)
        return try GitHubClient(
            credentials: try GitHubAppCredentials(appID: appID, privateKey: key),
            configuration: GitHubClient.Configuration(apiBaseURL: try XCTUnwrap(fake.baseURL), retry: retry,
                                                      requestTimeout: 10, clock: clock, log: log))
    }

    static var repoRef: RepoRef {
        RepoRef(owner: owner, name: repo, cloneURL: "https://github.com/acme/widgets.git", defaultBranch: "main")
    }

    static let familiar = FamiliarRef(id: "cody", displayName: "Cody")

    static func issueTask(id: String = "t_00000000000000a1", installation: Int64? = installationID,
                          headSHA: String? = nil) -> TaskSpec {
        TaskSpec(id: id, source: .webhook(deliveryID: "d-1"), installationID: installation, repo: repoRef,
                 trigger: .issueAssigned, kind: .fixIssue(issueNumber: 12, title: "Widgets wobble", body: "They wobble."),
                 familiar: familiar, headSHA: headSHA)
    }

    static func prTask(id: String = "t_00000000000000b2") -> TaskSpec {
        TaskSpec(id: id, source: .webhook(deliveryID: "d-2"), installationID: installationID, repo: repoRef,
                 trigger: .prReviewComment,
                 kind: .addressReviewComment(prNumber: prNumber, commentBody: "@coven-cody please rename", diffHunk: nil,
                                             path: nil, line: nil),
                 familiar: familiar)
    }

    static func success(branch: String = "coven/fix-12", commits: Int = 1, status: ResultEnvelope.Status = .success,
                        disposition: Disposition = .success) -> TaskOutcome {
        let result = ResultEnvelope(status: status, branch: branch,
                                    commits: (0..<commits).map { ResultEnvelope.Commit(sha: String(repeating: "e", count: 39) + "\($0)", message: "fix \($0)") },
                                    filesChanged: ["Sources/Widget.swift"], summary: "Stopped the wobble.",
                                    prBody: "Tightens the widget bolts.")
        return TaskOutcome(state: .completed, disposition: disposition, result: result)
    }
}

/// Records retry waits and returns at once.
final class SleepRecorder: Sendable {
    private let waits = Mutex<[TimeInterval]>([])
    var recorded: [TimeInterval] { waits.withLock { $0 } }
    var sleep: @Sendable (TimeInterval) async throws -> Void {
        { [self] seconds in waits.withLock { $0.append(seconds) } }
    }
}

/// Collects log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var log: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
}

/// A test case with a running fake and a client; the fake is stopped afterwards.
class GitHubTestCase: XCTestCase {
    var fake: FakeGitHubAPI!
    let sleeps = SleepRecorder()
    let logs = LogLines()

    override func setUpWithError() throws {
        fake = try GitHubFixture.makeFake()
    }

    override func tearDown() {
        fake?.shutdown()
        fake = nil
    }

    func client(maxRetries: Int = 3, maxWait: TimeInterval = 60, key: RSAPrivateKey = GitHubFixture.key,
                appID: String = GitHubFixture.appID,
                clock: @escaping @Sendable () -> Date = { Date() }) throws -> GitHubClient {
        try GitHubFixture.makeClient(fake, key: key, appID: appID, sleeps: sleeps, maxRetries: maxRetries,
                                     maxWait: maxWait, clock: clock, log: logs.log)
    }

    var widgets: GitHubClient.Repo { GitHubClient.Repo(owner: GitHubFixture.owner, name: GitHubFixture.repo) }

    /// Runs `body`, expecting a `GitHubAPIError`.
    func expectAPIError<T>(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () async throws -> T) async -> GitHubAPIError? {
        do {
            let value = try await body()
            XCTFail("\(what): expected a GitHubAPIError, got \(value)", file: file, line: line)
            return nil
        } catch let e as GitHubAPIError {
            return e
        } catch {
            XCTFail("\(what): expected a GitHubAPIError, got \(error)", file: file, line: line)
            return nil
        }
    }
}
