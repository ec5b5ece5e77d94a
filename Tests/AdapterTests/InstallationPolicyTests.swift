import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
import Supervisor
import Sandbox
import HTTP

extension TaskStore {
    /// The task's pending publication, if any.
    func nextPublication(for taskID: String) throws -> PublicationEvent? {
        try pendingPublications().first { $0.event.task.id == taskID }?.event
    }
}

/// `installations[]`: allow-lists, limits, usage and the uninstall, from signed deliveries.
final class InstallationPolicyTests: XCTestCase {
    static let served = GitHubFixture.installationID   // 77

    private func fixture(_ entry: InstallationPolicy.Entry) throws -> CommandFixture {
        try CommandFixture(policy: InstallationPolicy(entries: [entry]))
    }

    private func assign(_ f: CommandFixture, number: Int = 12, installation: Int64 = served, repo: String = "widgets",
                        delivery: String = UUID().uuidString) -> HTTPResponse {
        f.deliver("issues", """
        {"action": "assigned", "issue": {"number": \(number), "title": "Wobble", "body": "It wobbles."},
         "assignee": {"login": "coven-cody[bot]", "type": "Bot"},
         "repository": {"name": "\(repo)", "owner": {"login": "acme"}, "clone_url": "https://github.com/acme/\(repo).git",
                        "default_branch": "main"},
         "installation": {"id": \(installation)}, "sender": {"login": "octocat"}}
        """, delivery: delivery)
    }

    // MARK: allow-lists

    /// Each allow-list rule, and the 200 "ignored" answer with its reason.
    func testDeliveriesThePolicyDoesNotServeAreIgnoredWithTheReason() throws {
        let cases: [(entry: InstallationPolicy.Entry, installation: Int64, repo: String, reason: String)] = [
            (.init(id: Self.served), 99, "widgets", "installation 99 is not served here"),
            (.init(id: Self.served, repositories: ["acme/gadgets"]), Self.served, "widgets",
             "repository acme/widgets is not among installation 77's repositories"),
            (.init(id: Self.served, familiars: ["someone-else"]), Self.served, "widgets", "familiar cody does not serve installation 77"),
        ]
        for c in cases {
            let f = try fixture(c.entry)
            let r = assign(f, installation: c.installation, repo: c.repo)
            XCTAssertEqual(r.status, 200, c.reason)
            XCTAssertTrue((r.jsonObject["ignored"] as? String ?? "").contains(c.reason), "\(r.jsonObject) lacks '\(c.reason)'")
            XCTAssertEqual(try f.store.list().count, 0, "no task for: \(c.reason)")
        }
    }

    func testAnOwnerWildcardServesEveryRepositoryOfTheOwner() throws {
        let f = try fixture(.init(id: Self.served, repositories: ["ACME/*"]))
        XCTAssertEqual(assign(f).status, 202)
    }

    func testWithoutAPolicyEveryInstallationIsServed() throws {
        let f = try CommandFixture()
        XCTAssertEqual(assign(f, installation: 12345).status, 202)
    }

    func testACommandOfAnUnlistedInstallationIsIgnoredUnanswered() throws {
        let f = try fixture(.init(id: Self.served))
        let r = f.deliver("issue_comment", CommandFixture.comment("@coven-cody help", installation: 99))
        XCTAssertNotNil(r.jsonObject["ignored"])
        XCTAssertEqual(f.replies(), [])
    }

    // MARK: limits

    func testMaxTasksPerDayRefusesWithAStatusNamingTheLimit() throws {
        let f = try fixture(.init(id: Self.served, limits: InstallationLimits(maxTasksPerDay: 1, overLimit: .refuse)))
        XCTAssertEqual(assign(f, number: 1).status, 202)
        let r = assign(f, number: 2)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue((r.jsonObject["refused"] as? String ?? "").contains("max_tasks_per_day (1)"), "\(r.jsonObject)")
        let refused = try XCTUnwrap(f.store.list().first { $0.spec.kind.targetNumber == 2 })
        XCTAssertEqual(refused.state, .cancelled)
        guard case .finished(_, let outcome)? = try f.store.nextPublication(for: refused.id) else {
            return XCTFail("the refused task's status is not published")
        }
        let comment = StatusComment.render(task: refused.spec, phase: .finished(outcome, pullRequest: nil, note: nil))
        XCTAssertTrue(comment.contains("max_tasks_per_day (1)"), comment)
    }

    func testMaxTasksPerDayQueuesUntilTomorrowWithAStatusNamingTheLimit() throws {
        let f = try fixture(.init(id: Self.served, limits: InstallationLimits(maxTasksPerDay: 1)))
        XCTAssertEqual(assign(f, number: 1).status, 202)
        XCTAssertEqual(assign(f, number: 2).status, 202)
        let held = try XCTUnwrap(f.store.list().first { $0.spec.kind.targetNumber == 2 })
        XCTAssertEqual(held.state, .queued)
        XCTAssertGreaterThanOrEqual(held.notBefore, UsageDay.start(of: Date(), addingDays: 1))
        guard case .queued(let spec, _, let waiting)? = try f.store.nextPublication(for: held.id) else {
            return XCTFail("the held task's queued status is not published")
        }
        let comment = StatusComment.render(task: spec, phase: .queued, waitingFor: waiting)
        XCTAssertTrue(comment.contains("max_tasks_per_day (1) reached"), comment)
    }

    func testMaxConcurrentReplacesTheDefaultInTheClaim() throws {
        let f = try fixture(.init(id: Self.served, limits: InstallationLimits(maxConcurrent: 2)))
        for n in 1...3 { XCTAssertEqual(assign(f, number: n).status, 202) }
        var claimed = 0
        while try f.store.claimNext(globalLimit: 10, perInstallationLimit: 1) != nil { claimed += 1 }
        XCTAssertEqual(claimed, 2, "max_concurrent 2 lets two run where the default would let one")
    }

    func testUsedUpAttemptMinutesStopTheClaim() throws {
        let f = try fixture(.init(id: Self.served, limits: InstallationLimits(maxAttemptMinutesPerDay: 1)))
        XCTAssertEqual(assign(f, number: 1).status, 202)
        XCTAssertEqual(assign(f, number: 2).status, 202)
        let first = try XCTUnwrap(f.store.claimNext(globalLimit: 10, perInstallationLimit: 10))
        try f.store.recordAttempt(taskID: first.spec.id, attempt: first.attempt,
                                  AttemptEnd(report: ExitReportFixture.report(wall: 61), outcome: AttemptOutcome(
                                      attemptClass: .failed, disposition: .failure, reason: "x")),
                                  retry: RetryPolicy())
        XCTAssertNil(try f.store.claimNext(globalLimit: 10, perInstallationLimit: 10), "61 s used of 60: nothing starts today")
    }

    // MARK: usage

    func testAnAttemptsUsageIsStoredPerInstallationAndDay() throws {
        let f = try CommandFixture()
        XCTAssertEqual(assign(f).status, 202)
        let claim = try XCTUnwrap(f.store.claimNext(globalLimit: 1, perInstallationLimit: 1))
        try f.store.recordAttempt(taskID: claim.spec.id, attempt: claim.attempt,
                                  AttemptEnd(report: ExitReportFixture.report(wall: 12.5, cpu: 3, peak: 4096),
                                             outcome: AttemptOutcome(attemptClass: .failed, disposition: .failure, reason: "x"),
                                             egressBytes: 777),
                                  retry: RetryPolicy())
        let u = try XCTUnwrap(f.store.usage(installationID: Self.served).first)
        XCTAssertEqual(u.day, UsageDay.string(Date()))
        XCTAssertEqual([u.attempts, Int(u.wallSeconds * 10), Int(u.cpuSeconds), Int(u.peakMemoryBytes), Int(u.egressBytes)],
                       [1, 125, 3, 4096, 777])
    }

    // MARK: uninstall

    func testInstallationDeletedPurgesTasksDeliveriesAndUsage() throws {
        let f = try CommandFixture()
        XCTAssertEqual(assign(f, delivery: "kept-until-uninstall").status, 202)
        _ = try f.store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        let r = f.deliver("installation", #"{"action": "deleted", "installation": {"id": 77}, "sender": {"login": "octocat"}}"#)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual((r.jsonObject["purged"] as? [String: Any])?["tasks"] as? Int, 1)
        XCTAssertEqual(try f.store.list().count, 0)
        XCTAssertNil(try f.store.delivery(id: "kept-until-uninstall"))
        XCTAssertEqual(try f.store.usage(installationID: Self.served), [])
        let logged = try XCTUnwrap(f.events.named("installation_purged").first)
        XCTAssertEqual([logged["tasks"], logged["attempts"], logged["deliveries"], logged["usage_days"]], ["1", "1", "1", "1"])
    }
}

/// Exit reports with chosen measurements.
enum ExitReportFixture {
    static func report(wall: Double, cpu: Double = 0, peak: UInt64? = nil) -> ExitReport {
        ExitReport(exitClass: .exited(code: 1), wallTime: wall, cpuTime: cpu, peakMemoryBytes: peak)
    }
}
