import XCTest
import Foundation
@testable import Adapter
import Supervisor

/// `coven_publications_pending`: what waits in the outbox, for an operator to alert on.
final class DaemonMetricsOutboxTests: XCTestCase {
    func testPendingPublicationsAreExposed() throws {
        let dir = NSTemporaryDirectory() + "coven-metrics-outbox-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TaskStore(stateDirectory: dir)
        for i in 0..<2 {
            try store.insert(TaskSpec(id: "t\(i)", repo: RepoRef(owner: "o", name: "r", cloneURL: "https://github.com/o/r.git",
                                                               defaultBranch: "main"),
                                      trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "t", body: ""),
                                      familiar: FamiliarRef(id: "f", displayName: "F")))
        }
        let text = DaemonMetrics().render(store: store)
        XCTAssertTrue(text.split(separator: "\n").contains("coven_publications_pending 2"), text)
    }
}
