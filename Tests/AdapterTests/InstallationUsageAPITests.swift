import XCTest
import Foundation
@testable import Adapter
import Supervisor
import Sandbox

/// `GET /api/installations/{id}/usage` and the usage in `/metrics`.
final class InstallationUsageAPITests: XCTestCase {
    private func fixtureWithOneAttempt() throws -> DaemonRouteFixture {
        let f = try DaemonRouteFixture()
        f.store.setInstallationLimits([4711: InstallationLimits(maxTasksPerDay: 9)])
        try f.store.insert(TaskSpec(id: "t_usage00000000001", installationID: 4711,
                                    repo: RepoRef(owner: "acme", name: "widget", cloneURL: "https://example.invalid/a.git",
                                                  defaultBranch: "main"),
                                    trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "t", body: ""),
                                    familiar: FamiliarRef(id: "cody", displayName: "Cody")))
        let claim = try XCTUnwrap(f.store.claimNext(globalLimit: 1, perInstallationLimit: 1))
        try f.store.recordAttempt(taskID: claim.spec.id, attempt: claim.attempt,
                                  AttemptEnd(report: ExitReport(exitClass: .exited(code: 0), wallTime: 2, cpuTime: 1),
                                             outcome: AttemptOutcome(attemptClass: .failed, disposition: .failure, reason: "x"),
                                             egressBytes: 10),
                                  retry: RetryPolicy())
        return f
    }

    func testTheRouteServesTheDaysUsageAndTheLimits() throws {
        let f = try fixtureWithOneAttempt()
        let r = try f.api("GET", "/api/installations/4711/usage")
        XCTAssertEqual(r.status, 200)
        let day = try XCTUnwrap((r.json["days"] as? [[String: Any]])?.first)
        XCTAssertEqual(day["day"] as? String, UsageDay.string(Date()))
        XCTAssertEqual([day["tasks"], day["attempts"], day["wall_seconds"], day["egress_bytes"]].map { ($0 as? NSNumber)?.intValue },
                       [1, 1, 2, 10])
        XCTAssertEqual((r.json["limits"] as? [String: Any])?["max_tasks_per_day"] as? Int, 9)
    }

    func testTheRouteRefusesABadInstallationID() throws {
        XCTAssertEqual(try DaemonRouteFixture().api("GET", "/api/installations/abc/usage").status, 400)
    }

    func testTheRouteNeedsTheToken() throws {
        XCTAssertEqual(try DaemonRouteFixture().api("GET", "/api/installations/1/usage", token: "wrong").status, 401)
    }

    func testMetricsShowTodaysUsagePerInstallation() throws {
        let f = try fixtureWithOneAttempt()
        let text = String(decoding: try f.client.get(f.url("/metrics")).body, as: UTF8.self)
        for line in ["coven_installation_attempts_today{installation=\"4711\"} 1",
                     "coven_installation_wall_seconds_today{installation=\"4711\"} 2",
                     "coven_installation_egress_bytes_today{installation=\"4711\"} 10"] {
            XCTAssertTrue(text.contains(line), "missing \(line)")
        }
    }
}
