import XCTest
import Foundation
@testable import Adapter

/// `worker.max_crash_interruptions`: read into the supervisor's settings, refused out of range.
final class ConfigCrashBudgetTests: XCTestCase, ConfigParsing {
    func config(_ worker: String) -> String {
        #"{"state_dir": "/var/lib/coven", "worker": {"runtime": ["/usr/bin/coven-code"]\#(worker)}}"#
    }

    func testCrashBudgetReachesTheSupervisor() throws {
        XCTAssertEqual(try parse(config(#", "max_crash_interruptions": 5"#)).supervisorSettings.maxCrashInterruptions, 5)
    }

    func testCrashBudgetDefaultsToThree() throws {
        XCTAssertEqual(try parse(config("")).supervisorSettings.maxCrashInterruptions, 3)
    }

    func testZeroCrashBudgetIsRefusedNamingTheKey() {
        XCTAssertEqual(refusal(config(#", "max_crash_interruptions": 0"#))?.description,
                       "config: worker.max_crash_interruptions: must be a whole number from 1 to 100, not 0")
    }
}
