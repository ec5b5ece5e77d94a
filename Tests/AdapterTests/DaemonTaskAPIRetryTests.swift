import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Sandbox
import Supervisor

/// `POST /api/tasks/{id}/retry`: the status codes and JSON shapes the `tasks retry` CLI
/// is written against.
final class DaemonTaskAPIRetryTests: XCTestCase {
    /// Submits `id` through the API and, unless `finishWith` is nil, runs one attempt
    /// ending that way in the store (the fixture's supervisor runs nothing itself).
    private func task(_ f: DaemonRouteFixture, _ id: String, finishWith cls: AttemptClass?) throws {
        XCTAssertEqual(try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: id)).status, 201)
        guard let cls else { return }
        let c = try XCTUnwrap(try f.store.claimNext(globalLimit: 10, perInstallationLimit: 10))
        try f.store.recordAttempt(taskID: id, attempt: c.attempt,
                                  AttemptEnd(report: ExitReport(exitClass: .exited(code: 1)),
                                             outcome: AttemptOutcome(attemptClass: cls, disposition: .failure, reason: "no")),
                                  retry: RetryPolicy(maxRetries: 0))
    }

    func testFinishedTaskIsQueuedAgainWith202() throws {
        let f = try DaemonRouteFixture()
        try task(f, "t_r", finishWith: .failed)
        let r = try f.api("POST", "/api/tasks/t_r/retry")
        XCTAssertEqual(r.status, 202, r.text ?? "")
        XCTAssertEqual(r.json as NSDictionary, ["ok": true, "task_id": "t_r", "state": "queued"] as NSDictionary,
                       "the answer's shape is the contract: \(r.text ?? "")")
        XCTAssertEqual(try f.store.task(id: "t_r")?.record.state, .queued)
    }

    func testUnfinishedTaskIs409() throws {
        let f = try DaemonRouteFixture()
        try task(f, "t_q", finishWith: nil)
        let r = try f.api("POST", "/api/tasks/t_q/retry")
        XCTAssertEqual(r.status, 409, r.text ?? "")
        XCTAssertEqual(r.json["ok"] as? Bool, false)
        XCTAssertTrue((r.json["error"] as? String ?? "").contains("queued"), "the error says why: \(r.text ?? "")")
        XCTAssertEqual(Set(r.json.keys), ["ok", "error"])
    }

    func testUnknownTaskIs404() throws {
        let f = try DaemonRouteFixture()
        let r = try f.api("POST", "/api/tasks/t_none/retry")
        XCTAssertEqual(r.status, 404, r.text ?? "")
        XCTAssertEqual(r.json["ok"] as? Bool, false)
    }

    func testRetryNeedsTheToken() throws {
        let f = try DaemonRouteFixture()
        try task(f, "t_auth", finishWith: .failed)
        XCTAssertEqual(try f.api("POST", "/api/tasks/t_auth/retry", token: "wrong").status, 401)
        XCTAssertEqual(try f.store.task(id: "t_auth")?.record.state, .failed, "an unauthorized retry changes nothing")
    }
}
