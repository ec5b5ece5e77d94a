import XCTest
import Foundation
@testable import Sandbox

/// Proxy-mode socket directories left by a process killed with SIGKILL: named after their
/// creator, removed once it is gone, never while it lives. Scratch parents only.
final class EgressSocketSweepTests: XCTestCase {
    var parent = ""

    override func setUpWithError() throws {
        parent = try SandboxTestSupport.scratchDirectory("egress-sweep")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: parent)
    }

    /// A pid that certainly belonged to a process that is gone now.
    func deadPID() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// A socket directory as `Sandbox.startEgressProxy` leaves it, for creator `pid`.
    func makeSocketDirectory(creator pid: pid_t) throws -> String {
        let dir = parent + "/coven-egress-\(pid)-1f2e3d"
        XCTAssertEqual(mkdir(dir, 0o711), 0, "mkdir \(dir)")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/proxy.sock", contents: nil))
        return dir
    }

    func testDirectoryNamesCarryTheCreatorPid() {
        XCTAssertEqual(EgressSocketSweep.creatorPID(ofDirectory: EgressSocketSweep.directoryName()), getpid(),
                       "a socket directory's name must say which process made it")
    }

    func testRemovesADirectoryWhoseCreatorIsGone() throws {
        let dir = try makeSocketDirectory(creator: try deadPID())
        let removed = EgressSocketSweep.removeStale(in: parent)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "a dead creator's socket directory was left behind")
        XCTAssertEqual(removed, [dir], "the sweep reports what it removed")
    }

    func testKeepsADirectoryWhoseCreatorIsAlive() throws {
        let dir = try makeSocketDirectory(creator: getpid())
        EgressSocketSweep.removeStale(in: parent)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/proxy.sock"), "a live creator's socket directory was touched")
    }

    func testKeepsNamesWithoutACreatorPid() throws {
        let dir = parent + "/coven-egress-1f2e3d4c"   // the name before creators were recorded
        XCTAssertEqual(mkdir(dir, 0o711), 0)
        EgressSocketSweep.removeStale(in: parent)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir), "a directory whose creator is unknown was removed")
    }

    func testDoesNotFollowASymlinkNamedLikeAStaleDirectory() throws {
        // In a shared /tmp anyone can plant such a name; the sweep must not reach through it.
        let target = parent + "/elsewhere"
        XCTAssertEqual(mkdir(target, 0o755), 0)
        XCTAssertTrue(FileManager.default.createFile(atPath: target + "/proxy.sock", contents: nil))
        XCTAssertEqual(symlink(target, parent + "/coven-egress-\(try deadPID())-abc"), 0)
        EgressSocketSweep.removeStale(in: parent)
        XCTAssertTrue(FileManager.default.fileExists(atPath: target + "/proxy.sock"), "the sweep followed a symlink")
    }
}
