import XCTest
@testable import Sandbox

final class SandboxSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
