import Foundation
import XCTest

/// What the shipped executables hold: test support (the fake GitHub) lives in the
/// AdapterTesting target, which only tests link.
final class ShippedBinaryTests: XCTestCase {
    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: DaemonFaultTests.daemonBinary).deletingLastPathComponent().appendingPathComponent(name).path
    }

    func testShippedExecutablesHoldNoFakeGitHub() throws {
        for name in ["coven-supervisor-daemon", "coven-supervisor"] {
            let path = Self.binary(name)
            guard let bytes = FileManager.default.contents(atPath: path) else {
                return XCTFail("\(path) is missing: build the products before the tests (swift build --build-tests)")
            }
            XCTAssertNil(bytes.range(of: Data("FakeGitHubAPI".utf8)),
                         "\(name) contains FakeGitHubAPI: test support was linked into a shipped binary")
        }
    }
}
