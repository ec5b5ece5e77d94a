import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Seccomp profiles in Docker's JSON format: the model, parsing, validation, lookup by
// name, and the evaluation of `includes` / `excludes` against the host.
//
// Everything that can be checked without libseccomp is checked here, at parse time, so a
// bad profile fails with a message naming the entry (`syscalls[3] (names: ["ioctl"])`)
// before any filter is built. What only libseccomp knows (syscall names, rule conflicts)
// is checked by `compile()` in SeccompCompiler.swift.

/// A profile that cannot be loaded, parsed or compiled. The description names the profile
/// and, where there is one, the entry: `profile /x.json: syscalls[3] (names: ["ioctl"]):
/// unknown action "SCMP_ACT_NOPE"`.
public struct SeccompError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What the kernel does when a rule (or the default) matches.
public enum SeccompAction: Sendable, Hashable, CustomStringConvertible {
    case allow
    /// Fail the syscall with this errno.
    case errno(UInt16)
    /// `SCMP_ACT_KILL`: the historical name of `SCMP_ACT_KILL_THREAD` (same value).
    case kill
    case killThread
    case killProcess
    /// Send SIGSYS to the thread.
    case trap
    /// Notify a ptrace tracer, with this message number.
    case trace(UInt16)
    /// Allow, but log.
    case log
    /// `SECCOMP_RET_USER_NOTIF`: the supervisor decides. Never from a profile: the compiler
    /// turns EPERM rules into it, and the supervisor answers EPERM and counts the denial.
    case notify

    /// The action value as libseccomp and the kernel know it (`SCMP_ACT_*`, see
    /// /usr/include/seccomp.h; the function-like macros are not importable into Swift).
    public var rawValue: UInt32 {
        switch self {
        case .allow: return 0x7fff_0000
        case .errno(let e): return 0x0005_0000 | UInt32(e)
        case .kill, .killThread: return 0x0000_0000
        case .killProcess: return 0x8000_0000
        case .trap: return 0x0003_0000
        case .trace(let m): return 0x7ff0_0000 | UInt32(m)
        case .log: return 0x7ffc_0000
        case .notify: return 0x7fc0_0000
        }
    }

    public var description: String {
        switch self {
        case .allow: return "SCMP_ACT_ALLOW"
        case .errno(let e): return "SCMP_ACT_ERRNO(\(e))"
        case .kill: return "SCMP_ACT_KILL"
        case .killThread: return "SCMP_ACT_KILL_THREAD"
        case .killProcess: return "SCMP_ACT_KILL_PROCESS"
        case .trap: return "SCMP_ACT_TRAP"
        case .trace(let m): return "SCMP_ACT_TRACE(\(m))"
        case .log: return "SCMP_ACT_LOG"
        case .notify: return "SCMP_ACT_NOTIFY"
        }
    }

    /// Same kernel behaviour (`SCMP_ACT_KILL` and `SCMP_ACT_KILL_THREAD` are one action).
    public func isSame(as other: SeccompAction) -> Bool { rawValue == other.rawValue }

    /// The action names a profile may use. `SCMP_ACT_NOTIFY` is deliberately absent: it
    /// needs a listener the supervisor does not run.
    public static let names = [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
    ]

    /// The action for a profile's action name; `errnoRet` is the errno of SCMP_ACT_ERRNO
    /// and the message number of SCMP_ACT_TRACE (EPERM when absent, as runc does).
    static func from(name: String, errnoRet: UInt16?) -> SeccompAction? {
        switch name {
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_ERRNO": return .errno(errnoRet ?? 1)
        case "SCMP_ACT_KILL": return .kill
        case "SCMP_ACT_KILL_THREAD": return .killThread
        case "SCMP_ACT_KILL_PROCESS": return .killProcess
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_TRACE": return .trace(errnoRet ?? 1)
        case "SCMP_ACT_LOG": return .log
        default: return nil
        }
    }
}

/// An argument comparison operator (`enum scmp_compare`).
public enum SeccompCompareOp: String, Sendable, CaseIterable {
    case notEqual = "SCMP_CMP_NE"
    case lessThan = "SCMP_CMP_LT"
    case lessOrEqual = "SCMP_CMP_LE"
    case equal = "SCMP_CMP_EQ"
    case greaterOrEqual = "SCMP_CMP_GE"
    case greaterThan = "SCMP_CMP_GT"
    /// `(arg & value) == valueTwo`: in Docker's format `value` is the mask and `valueTwo`
    /// the expected result (libseccomp's datum_a / datum_b).
    case maskedEqual = "SCMP_CMP_MASKED_EQ"

    /// The `enum scmp_compare` value.
    public var cValue: UInt32 {
        switch self {
        case .notEqual: return 1
        case .lessThan: return 2
        case .lessOrEqual: return 3
        case .equal: return 4
        case .greaterOrEqual: return 5
        case .greaterThan: return 6
        case .maskedEqual: return 7
        }
    }
}

/// One argument comparison of a rule. Comparisons are on the full 64-bit argument; for a
/// 32-bit kernel argument (an `int` or `unsigned int`), compare with MASKED_EQ and mask
/// 0xffffffff when the rule must not be dodged by setting the high bits.
public struct SeccompArgument: Sendable, Hashable {
    /// 0...5.
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: SeccompCompareOp

    public init(index: UInt32, value: UInt64, valueTwo: UInt64 = 0, op: SeccompCompareOp) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// A kernel version as profiles write it: "4.8" (major.minor; Docker compares only these).
public struct SeccompKernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// "4.8" as in a profile. Nil for anything else.
    public init?(profileString s: String) {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.init(major: major, minor: minor)
    }

    /// The leading "major.minor" of a `uname -r` release ("6.1.0-18-amd64", "6.18.44-fc").
    public init?(release: String) {
        var numbers: [Int] = []
        var current = ""
        for ch in release {
            if ch.isASCII && ch.isNumber {
                current.append(ch)
            } else {
                guard let n = Int(current) else { break }
                numbers.append(n)
                current = ""
                if ch != "." || numbers.count == 2 { break }
            }
        }
        if numbers.count < 2, let n = Int(current) { numbers.append(n) }
        guard numbers.count >= 2 else { return nil }
        self.init(major: numbers[0], minor: numbers[1])
    }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    public var description: String { "\(major).\(minor)" }
}

/// The `includes` or `excludes` of a rule.
public struct SeccompConditions: Sendable, Hashable {
    /// Architecture names (Go or SCMP_ARCH_* spelling); validated at parse time.
    public var arches: [String] = []
    public var caps: [String] = []
    public var minKernel: SeccompKernelVersion?

    public init(arches: [String] = [], caps: [String] = [], minKernel: SeccompKernelVersion? = nil) {
        self.arches = arches
        self.caps = caps
        self.minKernel = minKernel
    }

    public var isEmpty: Bool { arches.isEmpty && caps.isEmpty && minKernel == nil }
}

/// One entry of `syscalls[]`.
public struct SeccompRule: Sendable, Hashable {
    /// Position in the profile's `syscalls` array (for messages).
    public var position: Int
    public var names: [String]
    public var action: SeccompAction
    public var args: [SeccompArgument]
    public var includes: SeccompConditions
    public var excludes: SeccompConditions
    public var comment: String?

    /// `syscalls[3] (names: ["ioctl"])`, how messages name the entry.
    public var label: String { SeccompRule.label(position: position, names: names) }

    static func label(position: Int, names: [String]?) -> String {
        guard let names else { return "syscalls[\(position)]" }
        return "syscalls[\(position)] (names: [\(names.map { JSONText.quoted($0) }.joined(separator: ", "))])"
    }
}

/// What a profile's `includes` / `excludes` are evaluated against.
public struct SeccompHost: Sendable, Hashable {
    public var architecture: SeccompArchitecture
    public var kernel: SeccompKernelVersion
    /// Capabilities of the sandboxed process ("CAP_SYS_ADMIN", ...).
    public var capabilities: Set<String>

    public init(architecture: SeccompArchitecture, kernel: SeccompKernelVersion, capabilities: Set<String>) {
        self.architecture = architecture
        self.kernel = kernel
        self.capabilities = capabilities
    }

    /// This machine, as our sandboxes see it: the native architecture, the running
    /// kernel, and NO capabilities (the launcher drops them all), so a rule that
    /// `includes.caps` is dropped and one that `excludes.caps` applies.
    public static var current: SeccompHost {
        SeccompHost(architecture: .native, kernel: runningKernel(), capabilities: [])
    }

    static func runningKernel() -> SeccompKernelVersion {
        var u = utsname()
        if uname(&u) == 0 {
            let release = withUnsafeBytes(of: &u.release) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let v = SeccompKernelVersion(release: release) { return v }
        }
        // Unknown kernel: the lowest version, so every `includes.minKernel` rule is dropped
        // (an allow it would add is not given) and every `excludes.minKernel` rule applies.
        return SeccompKernelVersion(major: 0, minor: 0)
    }
}

public struct SeccompProfile: Sendable, Hashable {
    /// Where the profile came from ("default (embedded)", a path), for messages.
    public var source: String
    public var defaultAction: SeccompAction
    /// `architectures` as listed (validated names).
    public var architectures: [SeccompArchitecture]
    /// `archMap`: an architecture and its sub-architectures.
    public var archMap: [ArchMapEntry]
    public var rules: [SeccompRule]

    public struct ArchMapEntry: Sendable, Hashable {
        public var architecture: SeccompArchitecture
        public var subArchitectures: [SeccompArchitecture]
        public init(architecture: SeccompArchitecture, subArchitectures: [SeccompArchitecture]) {
            self.architecture = architecture
            self.subArchitectures = subArchitectures
        }
    }

    public init(source: String, defaultAction: SeccompAction, architectures: [SeccompArchitecture] = [],
                archMap: [ArchMapEntry] = [], rules: [SeccompRule]) {
        self.source = source
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.archMap = archMap
        self.rules = rules
    }

    /// The rules that apply on `host`, Docker's way: a rule is dropped when any of its
    /// `excludes` matches (the arch is listed, the process has one of the caps, the kernel
    /// is at least minKernel) or when any of its `includes` does not (the arch is not
    /// listed, a cap is missing, the kernel is older than minKernel).
    public func applicableRules(on host: SeccompHost) -> [SeccompRule] {
        let hostArchNames = Set(host.architecture.allNames)
        return rules.filter { rule in
            let ex = rule.excludes
            if ex.arches.contains(where: hostArchNames.contains) { return false }
            if ex.caps.contains(where: host.capabilities.contains) { return false }
            if let k = ex.minKernel, host.kernel >= k { return false }
            let inc = rule.includes
            if !inc.arches.isEmpty && !inc.arches.contains(where: hostArchNames.contains) { return false }
            if !inc.caps.allSatisfy(host.capabilities.contains) { return false }
            if let k = inc.minKernel, host.kernel < k { return false }
            return true
        }
    }
}

// MARK: - Parsing

extension SeccompProfile {
    /// Parses and validates a Docker-format profile. `source` names it in error messages
    /// (a path, or "default (embedded)").
    public static func parse(_ data: Data, source: String) throws -> SeccompProfile {
        let prefix = "profile \(source)"
        let raw: RawProfile
        do {
            raw = try JSONDecoder().decode(RawProfile.self, from: data)
        } catch let error as DecodingError {
            throw SeccompError("\(prefix): \(describe(error))")
        } catch {
            throw SeccompError("\(prefix): not valid JSON: \(error)")
        }

        guard let defaultName = raw.defaultAction else {
            throw SeccompError("\(prefix): missing \"defaultAction\"")
        }
        let defaultErrno = try errnoValue(raw.defaultErrnoRet, what: "defaultErrnoRet", prefix: prefix)
        guard let defaultAction = SeccompAction.from(name: defaultName, errnoRet: defaultErrno) else {
            throw SeccompError("\(prefix): unknown defaultAction \(JSONText.quoted(defaultName))"
                               + " (known: \(SeccompAction.names.joined(separator: ", ")))")
        }
        if defaultErrno != nil, !["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"].contains(defaultName) {
            throw SeccompError("\(prefix): defaultErrnoRet is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(defaultName)")
        }

        func arch(_ name: String, in field: String) throws -> SeccompArchitecture {
            guard let a = SeccompArchitecture.named(name), a.name == name else {
                throw SeccompError("\(prefix): unknown architecture \(JSONText.quoted(name)) in \(field)"
                                   + " (expected an SCMP_ARCH_* name such as SCMP_ARCH_X86_64)")
            }
            return a
        }
        let architectures = try (raw.architectures ?? []).map { try arch($0, in: "architectures") }
        var archMap: [ArchMapEntry] = []
        for (i, entry) in (raw.archMap ?? []).enumerated() {
            guard let main = entry.architecture else {
                throw SeccompError("\(prefix): archMap[\(i)]: missing \"architecture\"")
            }
            archMap.append(ArchMapEntry(
                architecture: try arch(main, in: "archMap[\(i)].architecture"),
                subArchitectures: try (entry.subArchitectures ?? []).map {
                    try arch($0, in: "archMap[\(i)].subArchitectures")
                }))
        }
        if !architectures.isEmpty && !archMap.isEmpty {
            throw SeccompError("\(prefix): both \"architectures\" and \"archMap\" are given; use one of them")
        }

        var rules: [SeccompRule] = []
        for (i, entry) in (raw.syscalls ?? []).enumerated() {
            rules.append(try parseRule(entry, position: i, prefix: prefix))
        }
        return SeccompProfile(source: source, defaultAction: defaultAction, architectures: architectures,
                              archMap: archMap, rules: rules)
    }

    private static func parseRule(_ raw: RawSyscall, position i: Int, prefix: String) throws -> SeccompRule {
        let names: [String]
        switch (raw.name, raw.names) {
        case (let one?, nil): names = [one]
        case (nil, let many?): names = many
        case (_?, _?):
            throw SeccompError("\(prefix): \(SeccompRule.label(position: i, names: raw.names)): both \"name\" and \"names\" are given; use one of them")
        case (nil, nil): names = []
        }
        let label = SeccompRule.label(position: i, names: names)
        func fail(_ message: String) -> SeccompError { SeccompError("\(prefix): \(label): \(message)") }

        if names.isEmpty { throw fail("no syscall names (\"names\" is missing or empty)") }
        if let bad = names.first(where: { $0.isEmpty || !$0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } }) {
            throw fail("invalid syscall name \(JSONText.quoted(bad))")
        }
        guard let actionName = raw.action else { throw fail("missing \"action\"") }
        let errnoRet = try errnoValue(raw.errnoRet, what: "errnoRet", prefix: "\(prefix): \(label)")
        guard let action = SeccompAction.from(name: actionName, errnoRet: errnoRet) else {
            throw fail("unknown action \(JSONText.quoted(actionName)) (known: \(SeccompAction.names.joined(separator: ", ")))")
        }
        if errnoRet != nil, !["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"].contains(actionName) {
            throw fail("errnoRet is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(actionName)")
        }

        var args: [SeccompArgument] = []
        for (j, a) in (raw.args ?? []).enumerated() {
            let index = a.index ?? 0
            guard index <= 5 else {
                throw fail("args[\(j)]: index \(index) is out of range (a syscall has arguments 0...5)")
            }
            guard let opName = a.op else { throw fail("args[\(j)]: missing \"op\"") }
            guard let op = SeccompCompareOp(rawValue: opName) else {
                throw fail("args[\(j)]: unknown op \(JSONText.quoted(opName)) (known: \(SeccompCompareOp.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let k = args.firstIndex(where: { $0.index == UInt32(index) }) {
                // libseccomp allows one comparison per argument per rule (EINVAL otherwise).
                throw fail("args[\(j)]: argument \(index) is already compared in args[\(k)]; libseccomp allows one comparison per argument in a rule (use two rules)")
            }
            args.append(SeccompArgument(index: UInt32(index), value: a.value ?? 0, valueTwo: a.valueTwo ?? 0, op: op))
        }

        func conditions(_ c: RawConditions?, field: String) throws -> SeccompConditions {
            guard let c else { return SeccompConditions() }
            for a in c.arches ?? [] where SeccompArchitecture.named(a) == nil {
                throw fail("unknown architecture \(JSONText.quoted(a)) in \(field).arches")
            }
            var minKernel: SeccompKernelVersion?
            if let s = c.minKernel {
                guard let v = SeccompKernelVersion(profileString: s) else {
                    throw fail("\(field).minKernel \(JSONText.quoted(s)) is not a kernel version like \"4.8\"")
                }
                minKernel = v
            }
            return SeccompConditions(arches: c.arches ?? [], caps: c.caps ?? [], minKernel: minKernel)
        }
        return SeccompRule(position: i, names: names, action: action, args: args,
                           includes: try conditions(raw.includes, field: "includes"),
                           excludes: try conditions(raw.excludes, field: "excludes"),
                           comment: raw.comment)
    }

    private static func errnoValue(_ v: UInt64?, what: String, prefix: String) throws -> UInt16? {
        guard let v else { return nil }
        guard v <= UInt64(UInt16.max) else {
            throw SeccompError("\(prefix): \(what) \(v) does not fit the 16 bits seccomp gives an errno")
        }
        return UInt16(v)
    }

    /// "syscalls[3].args[0].index: expected UInt64, found a string".
    private static func describe(_ error: DecodingError) -> String {
        func path(_ p: [any CodingKey]) -> String {
            var s = ""
            for key in p {
                if let i = key.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + key.stringValue }
            }
            return s
        }
        switch error {
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty {
                var msg = "not valid JSON"
                if let u = ctx.underlyingError { msg += ": \(u)" } else { msg += ": \(ctx.debugDescription)" }
                return msg
            }
            return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        case .typeMismatch(let type, let ctx):
            return "\(path(ctx.codingPath).isEmpty ? "top level" : path(ctx.codingPath)): expected \(typeName(type)): \(ctx.debugDescription)"
        case .valueNotFound(let type, let ctx):
            return "\(path(ctx.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let ctx):
            return "\(path(ctx.codingPath + [key])): missing"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is UInt64.Type: return "a non-negative integer"
        case is String.Type: return "a string"
        default: return "\(type)"
        }
    }
}


// The JSON as written; everything optional so that validation (not the decoder) says
// what is missing, with the entry's name.
private struct RawProfile: Decodable {
    var defaultAction: String?
    var defaultErrnoRet: UInt64?
    var architectures: [String]?
    var archMap: [RawArchMap]?
    var syscalls: [RawSyscall]?
}

private struct RawArchMap: Decodable {
    var architecture: String?
    var subArchitectures: [String]?
}

private struct RawSyscall: Decodable {
    var name: String?
    var names: [String]?
    var action: String?
    var errnoRet: UInt64?
    var args: [RawArgument]?
    var includes: RawConditions?
    var excludes: RawConditions?
    var comment: String?
}

private struct RawArgument: Decodable {
    var index: UInt64?
    var value: UInt64?
    var valueTwo: UInt64?
    var op: String?
}

private struct RawConditions: Decodable {
    var arches: [String]?
    var caps: [String]?
    var minKernel: String?
}

// MARK: - Lookup

extension SeccompProfile {
    /// Loads a profile:
    /// - a value containing "/" or ending ".json" is a file path;
    /// - otherwise it is a name, looked up as `NAME.json` in `searchDirectories`
    ///   (`$COVEN_PROFILE_DIR`, then `profiles/` next to the executable, then
    ///   `../../profiles` from it, which is the repository's `profiles/` for a binary in
    ///   `.build/<config>/`);
    /// - "default" that is not found there is the embedded copy of profiles/default.json,
    ///   so it is available with no files at all.
    public static func load(nameOrPath: String) throws -> SeccompProfile {
        try load(nameOrPath: nameOrPath, searchDirectories: searchDirectories)
    }

    public static func load(nameOrPath: String, searchDirectories: [String]) throws -> SeccompProfile {
        let (data, source) = try locate(nameOrPath: nameOrPath, searchDirectories: searchDirectories)
        return try parse(data, source: source)
    }

    /// The bytes of the profile `nameOrPath` names and where they came from, without parsing.
    public static func locate(nameOrPath: String, searchDirectories: [String] = searchDirectories) throws -> (data: Data, source: String) {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") {
            return (try readFile(nameOrPath), nameOrPath)
        }
        let name = nameOrPath
        guard isValidName(name) else {
            throw SeccompError("seccomp profile name \(JSONText.quoted(name)) is not valid (letters, digits, '.', '_', '-'; or give a path)")
        }
        for dir in searchDirectories {
            let path = (dir.hasSuffix("/") ? dir : dir + "/") + name + ".json"
            if access(path, F_OK) == 0 {
                return (try readFile(path), path)
            }
        }
        if name == "default" {
            return (embeddedDefaultData, "default (embedded)")
        }
        throw SeccompError("seccomp profile \(JSONText.quoted(name)) not found (looked for \(name).json in: "
                           + (searchDirectories.isEmpty ? "no directories" : searchDirectories.joined(separator: ", ")) + ")")
    }

    /// A profile name: ASCII letters, digits, '.', '_', '-', not starting with '.'.
    /// (Byte-level, like the other checks on `sandbox exec`'s start-up path: Foundation's
    /// CharacterSet and NSString path helpers cost a fresh process ~0.1 ms of first-use
    /// generic lookups.)
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: ".") else { return false }
        return name.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    /// The embedded default profile's bytes.
    static var embeddedDefaultData: Data {
        var json = embeddedDefaultJSON
        return json.withUTF8 { Data(bytes: $0.baseAddress!, count: $0.count) }
    }

    /// Where profile names are looked up, in order: `$COVEN_PROFILE_DIR` (when set),
    /// `<executable dir>/profiles`, `<executable dir>/../../profiles`.
    public static var searchDirectories: [String] {
        var dirs: [String] = []
        if let env = Environment.value("COVEN_PROFILE_DIR"), !env.isEmpty {
            dirs.append(env)
        }
        if let dir = Environment.executableDirectory() {
            dirs.append(dir + "/profiles")
            // <dir>/../../profiles, lexically (no symlink-resolving standardization).
            if let up2 = parentDirectory(parentDirectory(dir)) {
                dirs.append((up2 == "/" ? "" : up2) + "/profiles")
            }
        }
        return dirs
    }

    /// `path` without its last component ("/a/b" -> "/a", "/a" -> "/"), ignoring trailing
    /// slashes; nil for "/" itself, for nil, and for a relative path with one component.
    static func parentDirectory(_ path: String?) -> String? {
        guard var p = path else { return nil }
        while p.utf8.count > 1 && p.hasSuffix("/") { p.removeLast() }
        if p == "/" { return nil }
        guard let slash = p.lastIndex(of: "/") else { return nil }
        if slash == p.startIndex { return "/" }
        var parent = String(p[..<slash])
        while parent.utf8.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        return parent
    }

    /// Profiles are small; anything bigger is not one (and /dev/zero must not hang us).
    static let maxProfileBytes = 4 << 20

    private static func readFile(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SeccompError("profile \(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return data }
            if n < 0 {
                if errno == EINTR { continue }
                throw SeccompError("profile \(path): cannot read: \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: buf[0..<n])
            if data.count > maxProfileBytes {
                throw SeccompError("profile \(path): larger than \(maxProfileBytes) bytes, not a seccomp profile")
            }
        }
    }
}
