import XCTest
import Foundation
import Supervisor
@testable import Adapter

/// `familiars[].contract_version` and `familiars[].review`.
final class ConfigReviewTests: XCTestCase, ConfigParsing {
    func config(_ familiarExtra: String) -> String {
        #"{"state_dir": "/var/lib/coven", "worker": {"runtime": ["/usr/bin/coven-code"]}, "familiars": [{"id": "cody", "bot_username": "coven-cody[bot]"\#(familiarExtra)}]}"#
    }

    private func familiar(_ extra: String) throws -> FamiliarConfig { try XCTUnwrap(try parse(config(extra)).familiars.first) }

    func testContractVersionDefaultsTo1() throws {
        XCTAssertEqual(try familiar("").contractVersion, 1)
    }

    func testContractVersion2IsRead() throws {
        XCTAssertEqual(try familiar(#", "contract_version": 2"#).contractVersion, 2)
    }

    func testContractVersion3IsRefused() {
        XCTAssertEqual(refusal(config(#", "contract_version": 3"#))?.path, "familiars[0].contract_version")
    }

    func testReviewDefaultsToTheOptInLabel() throws {
        XCTAssertEqual(try familiar("").review.base, ReviewPolicy(trigger: .label, label: ReviewPolicy.defaultLabel))
    }

    func testReviewKeysAreRead() throws {
        let f = try familiar(#", "review": {"trigger": "always", "label": "ai-review", "request_changes_at": "high", "min_severity": "low"}"#)
        XCTAssertEqual(f.review.base, ReviewPolicy(trigger: .always, label: "ai-review", requestChangesAt: .high, minSeverity: .low))
    }

    func testARepositoryOverridesOnlyTheKeysItNames() throws {
        let f = try familiar(#", "review": {"min_severity": "medium", "repositories": {"acme/widgets": {"trigger": "always"}}}"#)
        XCTAssertEqual(f.review.policy(owner: "ACME", name: "widgets"), ReviewPolicy(trigger: .always, minSeverity: .medium))
    }

    func testAnUnknownReviewKeyIsRefused() {
        XCTAssertEqual(refusal(config(#", "review": {"trigger": "always", "treshold": "high"}"#))?.path, "familiars[0].review.treshold")
    }

    func testAnUnknownSeverityIsRefused() {
        XCTAssertEqual(refusal(config(#", "review": {"min_severity": "severe"}"#))?.path, "familiars[0].review.min_severity")
    }

    func testAnUnknownTriggerIsRefused() {
        XCTAssertEqual(refusal(config(#", "review": {"trigger": "sometimes"}"#))?.path, "familiars[0].review.trigger")
    }

    func testARepositoryKeyMustBeOwnerSlashName() {
        XCTAssertEqual(refusal(config(#", "review": {"repositories": {"widgets": {}}}"#))?.path, "familiars[0].review.repositories.widgets")
    }
}
