import Foundation
import XCTest
@testable import Supervisor
@testable import Adapter
@testable import AdapterTesting

/// In GitHub mode successes are logged too: the GitHub publisher reports each step that
/// succeeded, and the log publisher after it in the chain logs the task's lifecycle.
final class GitHubPublisherLogTests: GitHubTestCase {
    private let published = LoggedEvents()

    private func publisher() throws -> GitHubPublisher {
        let published = self.published
        return GitHubPublisher(client: try client(),
                               options: GitHubPublisher.Options(onPublished: { published.append($0, $1) }),
                               log: logs.log)
    }

    private func fields(_ event: String) -> [[String: String]] {
        published.named(event)
    }

    /// One issue task through to a successful finish; the lines logged as `event`.
    private func finishedTask(logged event: String) async throws -> (TaskSpec, [[String: String]]) {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        await p.taskFinished(task, outcome: GitHubFixture.success())
        return (task, fields(event))
    }

    func testACompletedCheckRunIsLoggedWithItsConclusion() async throws {
        let (task, lines) = try await finishedTask(logged: "check_run_completed")
        XCTAssertEqual(lines.count, 1, "one check_run_completed line per finished task: \(lines)")
        XCTAssertEqual(lines.first?["conclusion"], "success", "the line says the conclusion: \(lines)")
        XCTAssertEqual(lines.first?["check_run"], fake.checkRuns.first.map { String($0.id) }, "and which Check Run")
        XCTAssertEqual(lines.first?["task"], task.id)
    }

    func testAnOpenedPullRequestIsLoggedWithItsNumber() async throws {
        let (_, lines) = try await finishedTask(logged: "pull_request_opened")
        XCTAssertEqual(lines.count, 1, "one pull_request_opened line: \(lines)")
        XCTAssertEqual(lines.first?["number"], fake.pullRequestsCreated.first.map { String($0.number) },
                       "the line names the pull request GitHub created: \(lines)")
    }

    func testTheChainLogsTaskFinishedAfterGitHubPublishedIt() async throws {
        let path = NSTemporaryDirectory() + "coven-log-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let chain = PublisherChain([try publisher(), LogPublisher(handle: handle)])
        let task = GitHubFixture.issueTask()
        await chain.taskQueued(task)
        await chain.taskFinished(task, outcome: GitHubFixture.success())
        try handle.close()
        let events = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["event"] as? String
        }
        XCTAssertEqual(events, ["task_queued", "task_finished"], "the log publisher in the chain logs the lifecycle")
        XCTAssertEqual(fake.checkRuns.first?.conclusion, "success", "and GitHub was published to first")
    }
}
