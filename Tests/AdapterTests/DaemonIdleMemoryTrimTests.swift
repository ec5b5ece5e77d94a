import XCTest
@testable import Adapter

/// The idle trim pages out only what can be read back from a file: never writable or
/// anonymous memory (that would mean swap, or lost data).
final class DaemonIdleMemoryTrimTests: XCTestCase {
    /// Every mapping of /proc/self/maps as (range, permissions, path).
    private func maps() throws -> [(range: Range<Int>, perms: Substring, path: Substring)] {
        try String(contentsOfFile: "/proc/self/maps", encoding: .utf8).split(separator: "\n").map { line in
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            let b = f[0].split(separator: "-")
            return (Int(b[0], radix: 16)!..<Int(b[1], radix: 16)!, f[1], f.count == 6 ? f[5].drop(while: { $0 == " " }) : "")
        }
    }

    func testTrimCoversTheExecutablesText() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let text = try maps().filter { $0.path == exe && $0.perms.hasPrefix("r-x") }
        XCTAssertFalse(text.isEmpty, "the test binary has no r-x mapping in /proc/self/maps")
        let ranges = IdleMemoryTrimmer.readOnlyFileMappings()
        for t in text {
            XCTAssertTrue(ranges.contains(t.range), "the executable's text \(t.range) is not among the ranges paged out")
        }
    }

    func testTrimLeavesWritableAndAnonymousMemoryAlone() throws {
        let ranges = Set(IdleMemoryTrimmer.readOnlyFileMappings().map { "\($0)" })
        for m in try maps() where m.perms.dropFirst().first == "w" || !m.path.hasPrefix("/") {
            XCTAssertFalse(ranges.contains("\(m.range)"), "\(m.perms) \(m.path) \(m.range) would be paged out")
        }
    }
}
