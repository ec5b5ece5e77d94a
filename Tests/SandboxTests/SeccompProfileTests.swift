import Foundation
@testable import Sandbox
import XCTest

/// Parsing and validation of Docker-format seccomp profiles, `includes`/`excludes`
/// evaluation, and profile lookup. Compilation is in SeccompCompilerTests.
final class SeccompProfileTests: XCTestCase {

    // MARK: helpers

    /// Parses `json` as "/x.json"; fails the test (and rethrows) with the error message.
    func parse(_ json: String, file: StaticString = #filePath, line: UInt = #line) throws -> SeccompProfile {
        do {
            return try SeccompProfile.parse(Data(json.utf8), source: "/x.json")
        } catch {
            XCTFail("expected the profile to parse, got: \(error)", file: file, line: line)
            throw error
        }
    }

    /// The error message parsing `json` as "/x.json" gives ("" if it parsed).
    func parseError(_ json: String) -> String {
        do {
            _ = try SeccompProfile.parse(Data(json.utf8), source: "/x.json")
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// A profile with one syscalls[] entry (`rule` is the entry's JSON body) after three
    /// harmless ones, so the entry under test is syscalls[3].
    func profile(withFourthRule rule: String) -> String {
        """
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["close"], "action": "SCMP_ACT_ALLOW"},
          {\(rule)}
        ]}
        """
    }

    static let host = SeccompHost(architecture: SeccompArchitecture.named("SCMP_ARCH_X86_64")!,
                                  kernel: SeccompKernelVersion(major: 6, minor: 1), capabilities: [])

    func applicableNames(_ json: String, on host: SeccompHost = SeccompProfileTests.host) throws -> [String] {
        try parse(json).applicableRules(on: host).flatMap(\.names)
    }

    /// Docker's reference profiles (read-only, not part of the repository): `shared/` beside
    /// the checkout (as the Makefile's SHARED and CI lay it out), else /work/shared. Tests
    /// using them skip when neither exists.
    static let sharedFixtures: String = {
        let candidates = [
            repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/seccomp-docker").path,
            "/work/shared/fixtures/seccomp-docker",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates.last!
    }()

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    // MARK: actions and ops

    func testEveryActionNameParsesToItsKernelValue() throws {
        let expected: [(String, UInt32)] = [
            ("SCMP_ACT_ALLOW", 0x7fff_0000), ("SCMP_ACT_ERRNO", 0x0005_0001),
            ("SCMP_ACT_KILL", 0), ("SCMP_ACT_KILL_THREAD", 0), ("SCMP_ACT_KILL_PROCESS", 0x8000_0000),
            ("SCMP_ACT_TRAP", 0x0003_0000), ("SCMP_ACT_TRACE", 0x7ff0_0001), ("SCMP_ACT_LOG", 0x7ffc_0000),
        ]
        for (name, value) in expected {
            let p = try parse(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "\#(name)"}]}"#)
            XCTAssertEqual(p.rules.first?.action.rawValue, value, "\(name) should have the value \(String(value, radix: 16))")
        }
    }

    func testDefaultActionUsesDefaultErrnoRet() throws {
        let p = try parse(#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}"#)
        XCTAssertEqual(p.defaultAction, .errno(38), "defaultErrnoRet 38 should make the default ERRNO(38)")
    }

    func testErrnoWithoutErrnoRetIsEPERM() throws {
        let p = try parse(profile(withFourthRule: #""names": ["keyctl"], "action": "SCMP_ACT_ERRNO""#))
        XCTAssertEqual(p.rules[3].action, .errno(1), "SCMP_ACT_ERRNO without errnoRet should be EPERM, as runc does")
    }

    func testErrnoRetIsUsed() throws {
        let p = try parse(profile(withFourthRule: #""names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38"#))
        XCTAssertEqual(p.rules[3].action, .errno(38))
    }

    func testErrnoRetTooLargeIsAnError() {
        let msg = parseError(profile(withFourthRule: #""names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["clone3"]): errnoRet 70000"#), "got: \(msg)")
    }

    func testErrnoRetOnAllowIsAnError() {
        let msg = parseError(profile(withFourthRule: #""names": ["getpid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1"#))
        XCTAssertTrue(msg.contains("syscalls[3]") && msg.contains("errnoRet is only meaningful"), "got: \(msg)")
    }

    func testEveryOpParses() throws {
        for op in ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"] {
            let p = try parse(profile(withFourthRule: #""names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 7, "valueTwo": 3, "op": "\#(op)"}]"#))
            XCTAssertEqual(p.rules[3].args, [SeccompArgument(index: 0, value: 7, valueTwo: 3, op: SeccompCompareOp(rawValue: op)!)],
                           "op \(op) should parse with its value and valueTwo")
        }
    }

    func testFullRangeUInt64ArgumentValuesParseExactly() throws {
        let p = try parse(profile(withFourthRule: #""names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]"#))
        XCTAssertEqual(p.rules[3].args.first?.value, UInt64.max, "2^64-1 must not lose precision")
    }

    // MARK: names

    func testNamesListParses() throws {
        let p = try parse(profile(withFourthRule: #""names": ["keyctl", "add_key"], "action": "SCMP_ACT_KILL""#))
        XCTAssertEqual(p.rules[3].names, ["keyctl", "add_key"])
    }

    func testOldSingleNameFieldParses() throws {
        let p = try parse(profile(withFourthRule: #""name": "keyctl", "action": "SCMP_ACT_KILL", "args": []"#))
        XCTAssertEqual(p.rules[3].names, ["keyctl"], "the old format's \"name\" should become a one-name list")
    }

    func testNameAndNamesTogetherIsAnError() {
        let msg = parseError(profile(withFourthRule: #""name": "keyctl", "names": ["add_key"], "action": "SCMP_ACT_KILL""#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["add_key"]): both "name" and "names""#), "got: \(msg)")
    }

    func testEntryWithoutNamesIsAnError() {
        let msg = parseError(profile(withFourthRule: #""action": "SCMP_ACT_KILL""#))
        XCTAssertTrue(msg.hasPrefix("profile /x.json: syscalls[3] (names: []): no syscall names"), "got: \(msg)")
    }

    // MARK: errors name the entry

    func testUnknownActionNamesTheEntry() {
        let msg = parseError(profile(withFourthRule: #""names": ["ioctl"], "action": "SCMP_ACT_NOPE""#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["ioctl"]): unknown action "SCMP_ACT_NOPE""#), "got: \(msg)")
    }

    func testNotifyActionIsRejected() {
        let msg = parseError(profile(withFourthRule: #""names": ["ioctl"], "action": "SCMP_ACT_NOTIFY""#))
        XCTAssertTrue(msg.contains(#"unknown action "SCMP_ACT_NOTIFY""#), "SCMP_ACT_NOTIFY needs a listener we do not run; got: \(msg)")
    }

    func testUnknownDefaultActionIsAnError() {
        let msg = parseError(#"{"defaultAction": "SCMP_ACT_MAYBE"}"#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: unknown defaultAction "SCMP_ACT_MAYBE""#), "got: \(msg)")
    }

    func testMissingDefaultActionIsAnError() {
        let msg = parseError(#"{"syscalls": []}"#)
        XCTAssertEqual(msg, #"profile /x.json: missing "defaultAction""#)
    }

    func testUnknownOpNamesTheEntry() {
        let msg = parseError(profile(withFourthRule: #""names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["socket"]): args[0]: unknown op "SCMP_CMP_ALMOST""#), "got: \(msg)")
    }

    func testArgumentIndex6IsAnError() {
        let msg = parseError(profile(withFourthRule: #""names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["socket"]): args[0]: index 6 is out of range"#), "got: \(msg)")
    }

    func testArgumentIndex5IsAccepted() throws {
        let p = try parse(profile(withFourthRule: #""names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 5, "value": 0, "op": "SCMP_CMP_EQ"}]"#))
        XCTAssertEqual(p.rules[3].args.first?.index, 5)
    }

    func testSameArgumentComparedTwiceIsAnError() {
        let msg = parseError(profile(withFourthRule: #""names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GE"}, {"index": 0, "value": 9, "op": "SCMP_CMP_LE"}]"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["socket"]): args[1]: argument 0 is already compared in args[0]"#), "got: \(msg)")
    }

    func testMalformedJSONNamesTheFile() {
        let msg = parseError(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [ {"names": ["read"],"#)
        XCTAssertTrue(msg.hasPrefix("profile /x.json: not valid JSON"), "got: \(msg)")
    }

    func testWrongTypeNamesThePath() {
        let msg = parseError(profile(withFourthRule: #""names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": "zero", "op": "SCMP_CMP_EQ"}]"#))
        XCTAssertTrue(msg.hasPrefix("profile /x.json: syscalls[3].args[0].index: expected a non-negative integer"), "got: \(msg)")
    }

    func testUnknownArchitectureIsAnError() {
        let msg = parseError(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}"#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: unknown architecture "SCMP_ARCH_VAX" in architectures"#), "got: \(msg)")
    }

    func testUnknownSubArchitectureIsAnError() {
        let msg = parseError(#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_Z80"]}]}"#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: unknown architecture "SCMP_ARCH_Z80" in archMap[0].subArchitectures"#), "got: \(msg)")
    }

    func testUnknownArchitectureInIncludesNamesTheEntry() {
        let msg = parseError(profile(withFourthRule: #""names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["pdp11"]}"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["arch_prctl"]): unknown architecture "pdp11" in includes.arches"#), "got: \(msg)")
    }

    func testBadMinKernelNamesTheEntry() {
        let msg = parseError(profile(withFourthRule: #""names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}"#))
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[3] (names: ["ptrace"]): includes.minKernel "four""#), "got: \(msg)")
    }

    func testArchitecturesAndArchMapTogetherIsAnError() {
        let msg = parseError(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#)
        XCTAssertTrue(msg.contains(#"both "architectures" and "archMap""#), "got: \(msg)")
    }

    func testArchMapWithNullSubArchitecturesParses() throws {
        let p = try parse(#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}]}"#)
        XCTAssertEqual(p.archMap, [.init(architecture: SeccompArchitecture.named("SCMP_ARCH_RISCV64")!, subArchitectures: [])])
    }

    // MARK: includes / excludes

    func testIncludesCapsIsDroppedWithoutCapabilities() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["syslog"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}"#))
        XCTAssertFalse(names.contains("syslog"), "a sandbox without CAP_SYSLOG must not get the rule that includes it")
    }

    func testIncludesCapsAppliesWithTheCapability() throws {
        var host = Self.host
        host.capabilities = ["CAP_SYSLOG"]
        let names = try applicableNames(profile(withFourthRule: #""names": ["syslog"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}"#), on: host)
        XCTAssertTrue(names.contains("syslog"))
    }

    func testExcludesCapsAppliesWithoutCapabilities() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}"#))
        XCTAssertTrue(names.contains("clone3"), "a rule excluded only for CAP_SYS_ADMIN applies to a sandbox without it")
    }

    func testExcludesCapsIsDroppedWithTheCapability() throws {
        var host = Self.host
        host.capabilities = ["CAP_SYS_ADMIN"]
        let names = try applicableNames(profile(withFourthRule: #""names": ["clone3"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}"#), on: host)
        XCTAssertFalse(names.contains("clone3"))
    }

    func testIncludesArchesMatchesTheGoNameOfTheHost() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}"#))
        XCTAssertTrue(names.contains("arch_prctl"), "includes.arches [amd64] should match an x86_64 host")
    }

    func testIncludesArchesDropsTheRuleOnOtherArchitectures() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390", "s390x"]}"#))
        XCTAssertFalse(names.contains("s390_runtime_instr"))
    }

    func testExcludesArchesDropsTheRuleOnThatArchitecture() throws {
        var host = Self.host
        host.architecture = SeccompArchitecture.named("s390x")!
        let names = try applicableNames(profile(withFourthRule: #""names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["s390", "s390x"]}"#), on: host)
        XCTAssertFalse(names.contains("clone"))
    }

    func testIncludesMinKernelAppliesOnNewerKernels() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}"#))
        XCTAssertTrue(names.contains("ptrace"), "kernel 6.1 >= 4.8")
    }

    func testIncludesMinKernelIsDroppedOnOlderKernels() throws {
        var host = Self.host
        host.kernel = SeccompKernelVersion(major: 4, minor: 4)
        let names = try applicableNames(profile(withFourthRule: #""names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}"#), on: host)
        XCTAssertFalse(names.contains("ptrace"), "kernel 4.4 < 4.8")
    }

    func testExcludesMinKernelIsDroppedOnNewerKernels() throws {
        let names = try applicableNames(profile(withFourthRule: #""names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}"#))
        XCTAssertFalse(names.contains("ptrace"))
    }

    func testKernelVersionFromUnameRelease() {
        XCTAssertEqual(SeccompKernelVersion(release: "6.18.44-fc-v669"), SeccompKernelVersion(major: 6, minor: 18))
        XCTAssertEqual(SeccompKernelVersion(release: "4.8"), SeccompKernelVersion(major: 4, minor: 8))
        XCTAssertEqual(SeccompKernelVersion(release: "5.10.0-28-amd64"), SeccompKernelVersion(major: 5, minor: 10))
        XCTAssertNil(SeccompKernelVersion(release: "garbage"))
    }

    func testKernelVersionsCompareNumerically() {
        XCTAssertLessThan(SeccompKernelVersion(profileString: "4.9")!, SeccompKernelVersion(profileString: "4.10")!)
    }

    // MARK: fixtures

    static let smallDockerStyleProfile = #"""
    {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        {"architecture": "SCMP_ARCH_LOONGARCH64", "subArchitectures": null}
      ],
      "syscalls": [
        {"names": ["read", "write", "close", "exit_group", "chown32"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]},
         "comment": "comments are ignored"},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"name": "syslog", "action": "SCMP_ACT_ERRNO", "errnoRet": 12345, "args": []}
      ]
    }
    """#

    func testSmallDockerStyleProfileParses() throws {
        let p = try parse(Self.smallDockerStyleProfile)
        XCTAssertEqual(p.rules.count, 8)
    }

    func testSmallDockerStyleProfileSelectsRulesLikeDocker() throws {
        let names = try applicableNames(Self.smallDockerStyleProfile)
        XCTAssertEqual(names, ["read", "write", "close", "exit_group", "chown32", "ptrace", "socket", "arch_prctl", "clone", "clone3", "syslog"],
                       "without capabilities on x86_64 / 6.1, only mount (includes CAP_SYS_ADMIN) should be dropped")
    }

    func testDockerReferenceProfilesParse() throws {
        let dir = Self.sharedFixtures
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw XCTSkip("\(dir) is not present")
        }
        let profiles = files.filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertFalse(profiles.isEmpty, "no .json files in \(dir)")
        for f in profiles {
            XCTAssertNoThrow(try SeccompProfile.load(nameOrPath: "\(dir)/\(f)"), "Docker's \(f) should parse")
        }
    }

    // MARK: our default profile and lookup

    func testOurDefaultProfileParses() throws {
        let p = try SeccompProfile.parse(Data(SeccompProfile.embeddedDefaultJSON.utf8), source: "default")
        XCTAssertEqual(p.defaultAction, .errno(1), "the default profile denies with EPERM")
    }

    func testEmbeddedDefaultEqualsFile() throws {
        let url = Self.repoRoot.appendingPathComponent("profiles/default.json")
        let onDisk = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(onDisk == SeccompProfile.embeddedDefaultJSON,
                      "Sources/Sandbox/Seccomp/DefaultProfile.swift is out of date with profiles/default.json; regenerate it with the command in its header")
    }

    func testLoadDefaultWorksWithNoFiles() throws {
        let p = try SeccompProfile.load(nameOrPath: "default", searchDirectories: ["/nonexistent-\(UUID())"])
        XCTAssertEqual(p.source, "default (embedded)")
    }

    func testLoadByNameLooksInTheSearchDirectories() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seccomp-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"defaultAction": "SCMP_ACT_LOG"}"#.utf8).write(to: dir.appendingPathComponent("noisy.json"))
        let p = try SeccompProfile.load(nameOrPath: "noisy", searchDirectories: ["/nonexistent", dir.path])
        XCTAssertEqual(p.defaultAction, .log)
    }

    func testProfilesAreSearchedBesideTheExecutableAndTwoLevelsUp() {
        XCTAssertEqual(SeccompProfile.parentDirectory("/work/repo/.build/release"), "/work/repo/.build")
        XCTAssertEqual(SeccompProfile.parentDirectory("/work/repo/.build/"), "/work/repo")
        XCTAssertEqual(SeccompProfile.parentDirectory("/usr"), "/")
        XCTAssertNil(SeccompProfile.parentDirectory("/"), "the root has no parent")
        XCTAssertNil(SeccompProfile.parentDirectory(nil))
        guard let exeDir = Environment.executableDirectory() else { return XCTFail("no /proc/self/exe") }
        XCTAssertEqual(Array(SeccompProfile.searchDirectories.suffix(2)),
                       [exeDir + "/profiles",
                        SeccompProfile.parentDirectory(SeccompProfile.parentDirectory(exeDir))!.replacingOccurrences(of: "//", with: "/") + "/profiles"])
    }

    func testProfileNamesAreLettersDigitsDotUnderscoreDash() {
        XCTAssertTrue(SeccompProfile.isValidName("default"))
        XCTAssertTrue(SeccompProfile.isValidName("strict-v2.1_b"))
        XCTAssertFalse(SeccompProfile.isValidName(".hidden"), "leading dot")
        XCTAssertFalse(SeccompProfile.isValidName(""), "empty")
        XCTAssertFalse(SeccompProfile.isValidName("caf\u{e9}"), "non-ASCII letter")
        XCTAssertFalse(SeccompProfile.isValidName("a b"), "space")
    }

    func testCovenProfileDirIsSearchedFirst() {
        setenv("COVEN_PROFILE_DIR", "/some/where", 1)
        defer { unsetenv("COVEN_PROFILE_DIR") }
        XCTAssertEqual(SeccompProfile.searchDirectories.first, "/some/where")
    }

    func testUnknownNameSaysWhereItLooked() {
        XCTAssertThrowsError(try SeccompProfile.load(nameOrPath: "strict", searchDirectories: ["/a", "/b"])) { error in
            XCTAssertEqual("\(error)", #"seccomp profile "strict" not found (looked for strict.json in: /a, /b)"#)
        }
    }

    func testValueEndingInJsonIsAPath() {
        XCTAssertThrowsError(try SeccompProfile.load(nameOrPath: "missing-\(UUID()).json", searchDirectories: [])) { error in
            XCTAssertTrue("\(error)".contains("cannot open: No such file or directory"), "got: \(error)")
        }
    }

    func testDotNamesAreRejected() {
        XCTAssertThrowsError(try SeccompProfile.load(nameOrPath: "..", searchDirectories: ["/tmp"])) { error in
            XCTAssertTrue("\(error)".contains("is not valid"), "got: \(error)")
        }
    }

    func testMalformedFileErrorNamesThePath() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID()).json")
        try Data("{ nope".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try SeccompProfile.load(nameOrPath: url.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("profile \(url.path): not valid JSON"), "got: \(error)")
        }
    }

    func testNativeArchitectureIsInTheTable() {
        XCTAssertFalse(SeccompArchitecture.native.name.hasPrefix("SCMP_ARCH_0x"),
                       "the native architecture token \(SeccompArchitecture.native.token) is missing from SeccompArchitecture.known")
    }
}
