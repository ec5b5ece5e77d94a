import XCTest
@testable import Sandbox

final class DirectoryEntriesTests: XCTestCase {
    func testListsEveryNameExceptDotAndDotDot() throws {
        let dir = try SandboxTestSupport.scratchDirectory("dirents")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["a", "b c", "\u{e9}t\u{e9}"] { FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) }
        mkdir(dir + "/sub", 0o755)
        XCTAssertEqual(DirectoryEntries.names(dir)?.sorted(), ["a", "b c", "sub", "\u{e9}t\u{e9}"].sorted())
    }

    func testMissingDirectoryIsNil() {
        XCTAssertNil(DirectoryEntries.names("/nonexistent-\(getpid())"))
    }
}
