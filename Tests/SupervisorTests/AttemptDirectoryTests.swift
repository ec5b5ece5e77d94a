import XCTest
import Foundation
@testable import Supervisor

/// The attempt's /run/coven behind the sandbox: its writable out/ is bounded, and nothing
/// of it outlives the attempt.
final class AttemptDirectoryTests: XCTestCase {
    var parent = ""

    override func setUpWithError() throws {
        parent = NSTemporaryDirectory() + "coven-attempts-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: parent) }

    private func make(outSize: UInt64) throws -> AttemptDirectory {
        try AttemptDirectory.create(in: parent, taskID: "t_x", attempt: 1, owner: nil, brief: Data("{}".utf8), outSize: outSize)
    }

    private func mounted(_ path: String) -> Bool {
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    func testOutIsCappedAtItsSize() throws {
        try XCTSkipUnless(geteuid() == 0, "the out/ tmpfs needs root")
        let dir = try make(outSize: 1 << 20)
        defer { dir.remove() }
        let fd = open(dir.out + "/big", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 7, count: 64 << 10)
        var written = 0, lastErrno: Int32 = 0
        for _ in 0..<64 {   // 4 MiB at most
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { lastErrno = errno; break }
            written += n
        }
        XCTAssertEqual(lastErrno, ENOSPC, "a full out/ must answer ENOSPC")
        XCTAssertLessThanOrEqual(written, 1 << 20, "out/ took more than its size")
    }

    func testOutLivesOutsideTheBoundDirectory() throws {
        let dir = try make(outSize: 1 << 20)
        defer { dir.remove() }
        XCTAssertFalse(dir.out.hasPrefix(dir.path + "/"),
                       "a mount inside the attempt directory would make its (non-recursive) bind fail in the sandbox")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.outMountPoint, isDirectory: &isDir) && isDir.boolValue,
                      "the attempt directory keeps an out/ mount point")
    }

    func testRemoveLeavesNoMountAndNoDirectory() throws {
        let dir = try make(outSize: 1 << 20)
        let wasMounted = mounted(dir.out)
        dir.remove()
        if geteuid() == 0 { XCTAssertTrue(wasMounted, "precondition: out/ was a tmpfs") }
        XCTAssertFalse(mounted(dir.out), "the out/ tmpfs outlived the attempt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.out), "\(dir.out) is left")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "\(dir.path) is left")
    }

    func testStaleAttemptDirectoriesAndTheirMountsAreRemoved() throws {
        let a = try make(outSize: 1 << 20), b = try make(outSize: 1 << 20)
        XCTAssertEqual(AttemptDirectory.removeStale(in: parent), 2)
        for d in [a, b] {
            XCTAssertFalse(mounted(d.out), "a stale out/ tmpfs is still mounted")
            XCTAssertFalse(FileManager.default.fileExists(atPath: d.path) || FileManager.default.fileExists(atPath: d.out))
        }
    }
}
