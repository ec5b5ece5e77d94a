import XCTest
import Foundation
@testable import Supervisor
import Sandbox
import Adapter

/// The attempt loop end to end: real sandboxes, a real git smart-HTTP server,
/// a real SQLite store. One row of the classification table per test.
final class AttemptLoopTests: XCTestCase {
    var fx: AttemptLoopFixture!

    override func setUpWithError() throws {
        fx = try AttemptLoopFixture()
    }

    override func tearDown() {
        fx = nil
    }

    func testCloneCommitAndPushThroughAskpassCompletesSuccess() throws {
        let d = try fx.run(mode: "ok")
        XCTAssertEqual(d.record.state, .completed, "final reason: \(d.record.finalReason ?? "-"); attempts: \(d.attempts.map { $0.note ?? "" }) stderr: \(d.attempts.first?.stderr.text ?? "")")
        XCTAssertEqual(d.record.disposition, .success)
        XCTAssertEqual(d.attempts.count, 1, "a completed attempt is never retried")
        XCTAssertNotNil(fx.git.head(of: "acme/widget", branch: "coven/fix-1"), "the runtime's push did not reach the server")
        XCTAssertEqual(d.record.result?.branch, "coven/fix-1")
    }
}
