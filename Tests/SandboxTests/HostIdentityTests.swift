import XCTest
import Foundation
@testable import Sandbox

/// The subordinate-uid pool: one host uid per concurrent sandbox, lowest free first, leased
/// across processes through flock'd lock files. Every pool here uses a scratch lock directory.
final class HostIdentityTests: XCTestCase {
    var lockDirectory = ""

    override func setUpWithError() throws {
        lockDirectory = try SandboxTestSupport.scratchDirectory("uid-locks")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: lockDirectory)
    }

    func pool(_ range: Range<UInt32>) -> HostIdentityPool {
        HostIdentityPool(range: range, lockDirectory: lockDirectory)
    }

    /// The error `body` throws, or nil (failing the test) when it throws none.
    func identityError(_ body: () throws(HostIdentityError) -> UInt32, file: StaticString = #filePath, line: UInt = #line) -> HostIdentityError? {
        do {
            let id = try body()
            XCTFail("expected an error, got id \(id)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testHandsOutLowestFreeIdsInOrder() throws {
        let p = pool(500..<510)
        XCTAssertEqual([try p.acquire(), try p.acquire(), try p.acquire()], [500, 501, 502], "ids come lowest first")
    }

    func testReleasedIdIsReusedBeforeHigherOnes() throws {
        let p = pool(500..<510)
        _ = (try p.acquire(), try p.acquire(), try p.acquire())
        p.release(501)
        XCTAssertEqual(try p.acquire(), 501, "a released id fills the gap first")
        XCTAssertEqual(try p.acquire(), 503, "then the next unused one")
    }

    func testConcurrentHoldersNeverShareAnId() throws {
        let p = pool(1000..<1064)
        let ids = try (0..<64).map { _ in try p.acquire() }
        XCTAssertEqual(Set(ids).count, 64, "every holder got a distinct id")
    }

    func testExhaustedRangeThrowsExhaustedWithRangeAndDirectory() throws {
        let p = pool(7..<9)
        _ = (try p.acquire(), try p.acquire())
        XCTAssertEqual(identityError { () throws(HostIdentityError) in try p.acquire() },
                       .exhausted(range: 7..<9, lockDirectory: lockDirectory), "no id beyond the range")
    }

    func testExhaustionMessageNamesTheRangeTheLockDirectoryAndHowToWidenIt() {
        let message = HostIdentityError.exhausted(range: 400_000..<400_002, lockDirectory: "/run/x/host-uids").description
        for part in ["400000-400001", "/run/x/host-uids", "--uid-range", "sandbox.uid_range"] {
            XCTAssertTrue(message.contains(part), "exhaustion message lacks '\(part)': \(message)")
        }
    }

    func testIdReleasedFromAFullPoolIsHandedOutAgain() throws {
        let p = pool(7..<9)
        _ = (try p.acquire(), try p.acquire())
        p.release(7)
        XCTAssertEqual(try p.acquire(), 7, "an id released from a full pool is handed out again")
    }

    func testReleasingAnUnknownIdChangesNothing() throws {
        let p = pool(7..<9)
        _ = try p.acquire()
        p.release(8)
        XCTAssertEqual(p.count, 1)
    }

    // Two pools on one lock directory model two processes: flock locks of separate open
    // file descriptions conflict even within one process.

    func testTwoPoolsSharingALockDirectoryNeverHandOutTheSameId() throws {
        let a = pool(2000..<2010), b = pool(2000..<2010)
        var ids: [UInt32] = []
        for _ in 0..<5 { ids += [try a.acquire(), try b.acquire()] }
        XCTAssertEqual(Set(ids).count, 10, "two pools on one lock directory leased the same id: \(ids)")
    }

    func testIdReleasedByOnePoolIsLeasedByTheOther() throws {
        let a = pool(2000..<2010), b = pool(2000..<2010)
        let first = try a.acquire()
        _ = try b.acquire()
        a.release(first)
        XCTAssertEqual(try b.acquire(), first, "a released lease is free for another process")
    }

    func testTwoPoolsExhaustTheRangeTogether() throws {
        let a = pool(2000..<2002), b = pool(2000..<2002)
        _ = (try a.acquire(), try b.acquire())
        XCTAssertEqual(identityError { () throws(HostIdentityError) in try b.acquire() },
                       .exhausted(range: 2000..<2002, lockDirectory: lockDirectory),
                       "ids leased by another process count against the range")
    }

    func testIdHeldByAnotherProcessIsSkipped() throws {
        let lockFile = lockDirectory + "/3000"
        let helper = Process()
        // One process holds the lock: the shell's fd 9, locked by flock(1), then kept by the
        // sleep it execs; killing it frees the lock and leaves no grandchild behind.
        helper.executableURL = URL(fileURLWithPath: "/bin/sh")
        helper.arguments = ["-c", "exec 9>\"$0\" && /usr/bin/flock 9 && exec sleep 30", lockFile]
        helper.standardOutput = FileHandle.nullDevice
        helper.standardError = FileHandle.nullDevice
        try helper.run()
        defer { kill(helper.processIdentifier, SIGKILL); helper.waitUntilExit() }
        XCTAssertTrue(SandboxTestSupport.eventually { Self.isLockedElsewhere(lockFile) }, "the helper never took its lock")
        XCTAssertEqual(try pool(3000..<3005).acquire(), 3001, "an id another process holds must be skipped")
    }

    func testReleaseKeepsTheLockFile() throws {
        let p = pool(4000..<4002)
        let id = try p.acquire()
        p.release(id)
        XCTAssertTrue(FileManager.default.fileExists(atPath: lockDirectory + "/\(id)"),
                      "lock files must never be unlinked (a new file would let two holders lock one id)")
    }

    func testMissingLockDirectoryIsCreatedPrivate() throws {
        let nested = lockDirectory + "/run/host-uids"
        _ = try HostIdentityPool(range: 4000..<4002, lockDirectory: nested).acquire()
        var st = stat(), parent = stat()
        XCTAssertEqual(stat(nested, &st), 0, "the lock directory was not created")
        XCTAssertEqual(stat(lockDirectory + "/run", &parent), 0, "its parent was not created")
        XCTAssertEqual(st.st_mode & 0o7777, 0o700, "the lock directory must be 0700")
        XCTAssertEqual(parent.st_mode & 0o7777, 0o755, "missing parents are made 0755")
    }

    func testLockDirectoryOthersCanWriteIsRefused() throws {
        chmod(lockDirectory, 0o777)
        let p = pool(4000..<4002)
        guard case .lockDirectory(let path, _, _)? = identityError({ () throws(HostIdentityError) in try p.acquire() }) else {
            return XCTFail("a world-writable lock directory must be refused with .lockDirectory")
        }
        XCTAssertEqual(path, lockDirectory)
    }

    func testLockFileThatCannotBeOpenedIsATypedError() throws {
        // A directory where the lock file should be: open(O_RDWR) fails with EISDIR, even as root.
        XCTAssertEqual(mkdir(lockDirectory + "/5000", 0o700), 0)
        let p = pool(5000..<5002)
        XCTAssertEqual(identityError { () throws(HostIdentityError) in try p.acquire() },
                       .lockFile(path: lockDirectory + "/5000", errno: EISDIR),
                       "an unopenable lock file is an error, never a silent move to an unleased id")
    }

    /// True when some other open file description holds `path`'s flock.
    static func isLockedElsewhere(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }
}
