import XCTest
import Foundation
@testable import Sandbox

private typealias S = SandboxTestSupport

/// A handle kept after its sandbox ended (the supervisor keeps its attempts' handles until
/// they are recorded, and a cancel can reach one then) must not touch descriptors it closed:
/// their numbers are reused, e.g. by the next sandbox's wake pipe.
final class StaleHandleTests: XCTestCase {
    func testCancelThroughAFinishedSandboxsHandleLeavesTheNextSandboxAlone() throws {
        let first = try Sandbox.launch(S.spec("true"))
        _ = first.wait()
        // Launched after the first one's descriptors were closed: it may get their numbers.
        let second = try Sandbox.launch(S.spec("sleep 1; exit 7"))
        defer { second.cancel(); _ = second.wait() }
        first.cancel()
        let r = second.wait()
        XCTAssertEqual(r.report.exitClass, .exited(code: 7),
                       "a cancel through the first (finished) sandbox's handle reached the second one")
    }
}
