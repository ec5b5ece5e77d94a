import XCTest
@testable import Adapter
import Supervisor

/// `installations[]` in the configuration.
final class ConfigInstallationsTests: XCTestCase {
    private func parse(_ installations: String) throws -> DaemonConfig {
        try ConfigLoader.parse(Data("""
        {"state_dir": "/tmp/s", "worker": {"runtime": ["/bin/true"]},
         "familiars": [{"id": "cody", "bot_username": "coven-cody[bot]"}],
         "installations": \(installations)}
        """.utf8), baseDirectory: "/tmp")
    }

    func testAnEntryWithEveryKeyIsRead() throws {
        let c = try parse("""
        [{"id": 4711, "repositories": ["acme/widgets", "acme/*"], "familiars": ["cody"], "max_concurrent": 2,
          "max_tasks_per_day": 50, "max_attempt_minutes_per_day": 600, "over_limit": "refuse"}]
        """)
        XCTAssertEqual(c.installations.entries, [InstallationPolicy.Entry(
            id: 4711, repositories: ["acme/widgets", "acme/*"], familiars: ["cody"],
            limits: InstallationLimits(maxConcurrent: 2, maxTasksPerDay: 50, maxAttemptMinutesPerDay: 600, overLimit: .refuse))])
    }

    func testRefusals() {
        let cases: [(json: String, message: String)] = [
            ("[]", "installations: must list at least one installation"),
            (#"[{"repositories": []}]"#, "installations[0].id: is required"),
            (#"[{"id": 1}, {"id": 1}]"#, "installations[1].id: 1 is listed twice"),
            (#"[{"id": 1, "repositories": ["widgets"]}]"#, "installations[0].repositories[0]: \"widgets\" is not OWNER/NAME or OWNER/*"),
            (#"[{"id": 1, "familiars": ["nobody"]}]"#, "installations[0].familiars[0]: \"nobody\" is not the id of a configured familiar"),
            (#"[{"id": 1, "over_limit": "drop"}]"#, "installations[0].over_limit: \"drop\" must be \"queue\" or \"refuse\""),
            (#"[{"id": 1, "max_tasks_per_day": 0}]"#, "installations[0].max_tasks_per_day: must be a whole number"),
            (#"[{"id": 1, "max_tasks": 3}]"#, "installations[0].max_tasks: unknown key"),
        ]
        for c in cases {
            XCTAssertThrowsError(try parse(c.json), c.json) { error in
                XCTAssertTrue("\(error)".contains(c.message), "\(error) does not say '\(c.message)'")
            }
        }
    }

    func testWithoutTheKeyNoPolicyApplies() throws {
        let c = try ConfigLoader.parse(Data(#"{"state_dir": "/tmp/s", "worker": {"runtime": ["/bin/true"]}}"#.utf8), baseDirectory: "/tmp")
        XCTAssertFalse(c.installations.isActive)
    }
}
