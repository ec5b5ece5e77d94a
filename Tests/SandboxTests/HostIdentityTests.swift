import XCTest
@testable import Sandbox

/// The subordinate-uid pool: one host uid per concurrent sandbox, lowest free first.
final class HostIdentityTests: XCTestCase {
    func testHandsOutLowestFreeIdsInOrder() {
        let pool = HostIdentityPool(range: 500..<510)
        XCTAssertEqual([pool.acquire(), pool.acquire(), pool.acquire()], [500, 501, 502], "ids come lowest first")
    }

    func testReleasedIdIsReusedBeforeHigherOnes() {
        let pool = HostIdentityPool(range: 500..<510)
        _ = (pool.acquire(), pool.acquire(), pool.acquire())
        pool.release(501)
        XCTAssertEqual(pool.acquire(), 501, "a released id fills the gap first")
        XCTAssertEqual(pool.acquire(), 503, "then the next unused one")
    }

    func testConcurrentHoldersNeverShareAnId() {
        let pool = HostIdentityPool(range: 1000..<1064)
        let ids = (0..<64).compactMap { _ in pool.acquire() }
        XCTAssertEqual(Set(ids).count, 64, "every holder got a distinct id")
    }

    func testExhaustedRangeGivesNil() {
        let pool = HostIdentityPool(range: 7..<9)
        _ = (pool.acquire(), pool.acquire())
        XCTAssertNil(pool.acquire(), "no id beyond the range")
        pool.release(7)
        XCTAssertEqual(pool.acquire(), 7, "an id released from a full pool is handed out again")
        XCTAssertEqual(pool.count, 2)
    }

    func testReleasingAnUnknownIdChangesNothing() {
        let pool = HostIdentityPool(range: 7..<9)
        _ = pool.acquire()
        pool.release(8)
        XCTAssertEqual(pool.count, 1)
    }
}
