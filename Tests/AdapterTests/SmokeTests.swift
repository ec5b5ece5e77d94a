import XCTest
@testable import Adapter

final class AdapterSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
