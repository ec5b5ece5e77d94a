import XCTest
import Foundation
@testable import Sandbox

/// Compiled profiles are cached on disk; the cache never changes what is loaded.
final class SeccompCacheTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-seccomp-cache-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        setenv("COVEN_SECCOMP_CACHE", dir, 1)
    }

    override func tearDown() {
        unsetenv("COVEN_SECCOMP_CACHE")
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testCachedProgramEqualsAFreshCompile() throws {
        let fresh = try SeccompProfile.load(nameOrPath: "default").compile()
        let first = try SeccompCache.program(nameOrPath: "default")
        let second = try SeccompCache.program(nameOrPath: "default")
        XCTAssertEqual(first.filter, fresh.filter, "a cache miss must compile the same filter")
        XCTAssertEqual(second.filter, fresh.filter, "a cache hit must load the same filter")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".bpf") }.count, 1)
    }

    func testProgramsFromAnotherCompilerRevisionAreNotReused() throws {
        let profile = Data("{\"defaultAction\": \"SCMP_ACT_ALLOW\"}".utf8)
        XCTAssertNotEqual(SeccompCache.key(for: profile, compiler: SeccompCompiler.revision),
                          SeccompCache.key(for: profile, compiler: SeccompCompiler.revision + "-previous"),
                          "a program compiled differently must not be found under the same key")
    }

    func testDefaultProfileCompilesToABinaryTree() throws {
        // A linear list costs every syscall ~n/2 comparisons and the kernel ~0.25 ms more to
        // load (its per-syscall cache is built by emulating the filter).
        let program = try SeccompCache.program(nameOrPath: "default")
        // BPF_JMP|BPF_JGT|BPF_K is the tree's "syscall number above the pivot?" branch.
        let jumpsAbove = stride(from: 0, to: program.filter.count, by: 8).filter {
            UInt16(program.filter[$0]) | UInt16(program.filter[$0 + 1]) << 8 == 0x25
        }.count
        XCTAssertGreaterThan(jumpsAbove, 8, "no binary search over syscall numbers in a \(program.instructionCount)-instruction filter")
    }

    func testCorruptCacheFileIsIgnored() throws {
        let fresh = try SeccompCache.program(nameOrPath: "default")
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) {
            try Data("COVENBPF2\n0\n1234567".utf8).write(to: URL(fileURLWithPath: dir + "/" + f))  // not a multiple of 8
        }
        XCTAssertEqual(try SeccompCache.program(nameOrPath: "default").filter, fresh.filter)
    }

    func testWorldWritableCacheDirectoryIsNotTrusted() throws {
        chmod(dir, 0o777)
        XCTAssertNil(SeccompCache.directory(), "a cache directory others can write must not be used")
    }

    func testDifferentProfilesGetDifferentKeys() {
        XCTAssertNotEqual(SeccompCache.key(for: Data("{\"a\":1}".utf8)), SeccompCache.key(for: Data("{\"a\":2}".utf8)))
    }

    func testMalformedProfileFailsTheLaunchNamingTheEntry() throws {
        let path = dir + "/bad.json"
        try #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["ioctl"], "action": "SCMP_ACT_NOPE"}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        var spec = SandboxSpec(command: ["/bin/true"])
        spec.seccompProfile = path
        XCTAssertThrowsError(try Sandbox.launch(spec)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("syscalls[1]"), "the error must name the entry: \(text)")
            XCTAssertTrue(text.contains("SCMP_ACT_NOPE"), "the error must name the bad action: \(text)")
        }
    }
}
