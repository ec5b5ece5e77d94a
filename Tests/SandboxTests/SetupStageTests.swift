import XCTest
import Foundation
@testable import Sandbox
import CSandbox

/// The set-up stages: one list, defined in csandbox.h, seen from Swift as `SetupStage`.
final class SetupStageTests: XCTestCase {
    func testEveryStageHasItsOwnName() {
        let names = SetupStage.all.map(\.name)
        XCTAssertFalse(names.contains("unknown stage"), "a stage is missing from util.c's name table: \(names)")
        XCTAssertEqual(Set(names).count, names.count, "two stages share a name: \(names)")
    }

    func testACodeOutsideTheEnumIsTheLauncherStage() {
        XCTAssertEqual(SetupStage.from(code: Int32(CS_STAGE_COUNT)), .launcher, "a record with a stage code past the enum")
        XCTAssertEqual(SetupStage.from(code: -1), .launcher)
        XCTAssertEqual(SetupStage.from(code: Int32(SetupStage.bind.rawValue)), .bind)
    }

    func testAStageIsFoundByItsName() {
        for stage in SetupStage.all {
            XCTAssertEqual(SetupStage(name: stage.name), stage, "\(stage.name) does not map back to its stage")
        }
    }

    func testAFreeTextStageOfAnOlderReportMapsToTheStageItStartsWith() {
        XCTAssertEqual(SetupStage(name: "bind /srv/data"), .bind)
        XCTAssertEqual(SetupStage(name: "mount /proc"), .proc)
    }

    func testSetupFailureRoundTripsThroughJSON() throws {
        let report = ExitReport(exitClass: .setupFailed(stage: .cgroup, errno: EBUSY, detail: "cgroup: write +memory to x: EBUSY"),
                                unenforcedLimits: [UnenforcedLimit(limit: .cpu, reason: "not delegated")])
        let decoded = try JSONDecoder().decode(ExitReport.self, from: JSONEncoder().encode(report))
        XCTAssertEqual(decoded, report)
    }

    func testReportStoredBeforeTypedStagesStillDecodes() throws {
        let old = #"""
        {"exitClass":{"setupFailed":{"stage":"bind \/nonexistent","errno":2}},"wallTime":0.1,"cpuTime":0,
         "stdoutBytes":0,"stderrBytes":0,"stdoutTruncated":false,"stderrTruncated":false,"warnings":[]}
        """#
        let r = try JSONDecoder().decode(ExitReport.self, from: Data(old.utf8))
        XCTAssertEqual(r.exitClass, .setupFailed(stage: .bind, errno: ENOENT, detail: "/nonexistent"))
        XCTAssertEqual(r.unenforcedLimits, [], "no unenforced limits in an old report")
    }

    func testExitReportJSONNamesTheStageAndTheUnenforcedLimits() {
        let o = ExitReportJSON.object(ExitReport(exitClass: .setupFailed(stage: .cgroup, errno: EPERM, detail: "d"),
                                                 unenforcedLimits: [UnenforcedLimit(limit: .memory, reason: "r")]))
        XCTAssertEqual(o["stage"] as? String, "cgroup")
        XCTAssertEqual(o["detail"] as? String, "d")
        XCTAssertEqual((o["unenforced_limits"] as? [[String: String]])?.first, ["limit": "memory", "reason": "r"])
    }
}
