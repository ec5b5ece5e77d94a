import XCTest
@testable import Supervisor

final class PublisherTests: XCTestCase {
    private func logLines(_ body: (LogPublisher) async -> Void) async throws -> [JSONValue] {
        let pipe = Pipe()
        let publisher = LogPublisher(handle: pipe.fileHandleForWriting)
        await body(publisher)
        try pipe.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    func testLogPublisherWritesOneJSONLinePerEvent() async throws {
        let spec = Fixtures.fixIssue()
        let lines = try await logLines { p in
            await p.taskQueued(spec)
            await p.attemptStarted(spec, attempt: 1)
            await p.taskFinished(spec, outcome: TaskOutcome(state: .completed, disposition: .success, result: Fixtures.result()))
        }
        XCTAssertEqual(lines.map { $0.objectValue?["event"] }, [.string("task_queued"), .string("attempt_started"), .string("task_finished")])
    }

    func testLogPublisherLogsNoBodies() async throws {
        let spec = Fixtures.fixIssue()
        let lines = try await logLines { p in
            await p.taskQueued(spec)
            await p.taskFinished(spec, outcome: TaskOutcome(state: .completed, disposition: .actionRequired,
                                                            result: Fixtures.result(.needsInput)))
        }
        let text = lines.map(\.description).joined()
        XCTAssertFalse(text.contains("clock skew"), "the issue body must not be logged")
        XCTAssertFalse(text.contains("Which branch"), "the agent's question must not be logged")
    }

    func testLogPublisherRedactsReason() async throws {
        let lines = try await logLines { p in
            await p.taskFinished(Fixtures.fixIssue(), outcome: TaskOutcome(state: .failed, disposition: .failure,
                                                                           reason: "push to https://x-access-token:abc@github.com failed"))
        }
        XCTAssertEqual(lines.first?.objectValue?["reason"], .string("push to https://x-access-token:[REDACTED]@github.com failed"))
    }

    func testNeedsInputOutcomeCarriesTheQuestion() {
        let o = TaskOutcome(state: .completed, disposition: .actionRequired, result: Fixtures.result(.needsInput))
        XCTAssertEqual(o.question, "Which branch should I target?")
    }

    func testOtherOutcomesHaveNoQuestion() {
        XCTAssertNil(TaskOutcome(state: .completed, disposition: .success, result: Fixtures.result()).question)
    }
}
