import Foundation
import CSeccomp

/// Compiled profiles on disk, so a short-lived `sandbox exec` does not pay for
/// libseccomp's compilation (milliseconds) on every run. The key covers everything
/// the compilation depends on: the profile's bytes, the architecture, the kernel
/// release (`minKernel`), libseccomp's version and how we drive it
/// (`SeccompCompiler.revision`). The directory is private to the
/// user (0700); `COVEN_SECCOMP_CACHE=off` disables it.
public enum SeccompCache {
    static let magic = "COVENBPF2\n"

    /// The compiled program for a profile name or path, from the cache when possible.
    public static func program(nameOrPath: String) throws -> SeccompProgram {
        let (data, source) = try SeccompProfile.locate(nameOrPath: nameOrPath)
        guard let dir = directory() else {
            return try SeccompProfile.parse(data, source: source).compile()
        }
        let file = dir + "/" + key(for: data) + ".bpf"
        if let cached = read(file) { return cached }
        let program = try SeccompProfile.parse(data, source: source).compile()
        write(program, to: file, in: dir)
        return program
    }

    static func directory() -> String? {
        let setting = Environment.value("COVEN_SECCOMP_CACHE")
        if setting == "off" { return nil }
        if let d = setting, d.hasPrefix("/") { return CacheDirectory.trusted(d, mode: 0o700) }
        return CacheDirectory.path("seccomp", mode: 0o700)
    }

    static func key(for profile: Data, compiler: String = SeccompCompiler.revision) -> String {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let v = seccomp_version()
        let lib = v.map { "\($0.pointee.major).\($0.pointee.minor).\($0.pointee.micro)" } ?? "?"
        // What else the compiled program depends on, hashed after the profile's bytes.
        let context = "\u{0}\(release)\u{0}\(machine)\u{0}\(lib)\u{0}\(compiler)"
        func hash(seed: UInt64) -> UInt64 {
            var h = fnv1a(profile, seed: seed)
            for b in context.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            return h
        }
        return hex(hash(seed: 0xcbf2_9ce4_8422_2325)) + hex(hash(seed: 0x8422_2325_cbf2_9ce4))
    }

    static func fnv1a(_ data: Data, seed: UInt64) -> UInt64 {
        var h = seed
        data.withUnsafeBytes { raw in
            for b in raw { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        return h
    }

    /// 16 lowercase hex digits.
    static func hex(_ v: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { out[i] = digits[Int((v >> UInt64(60 - 4 * i)) & 0xf)] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Format: magic line, a line with the number of warnings, one line per warning, the BPF bytes.
    static func read(_ file: String) -> SeccompProgram? {
        guard let data = FileManager.default.contents(atPath: file), data.starts(with: magic.utf8) else { return nil }
        var lines: [String] = []
        var pos = data.startIndex + magic.utf8.count
        func line() -> String? {
            guard let nl = data[pos...].firstIndex(of: 0x0a) else { return nil }
            defer { pos = nl + 1 }
            return String(decoding: data[pos..<nl], as: UTF8.self)
        }
        guard let countLine = line(), let count = Int(countLine), count >= 0, count < 10_000 else { return nil }
        for _ in 0..<count {
            guard let w = line() else { return nil }
            lines.append(w)
        }
        let filter = [UInt8](data[pos...])
        guard filter.count % 8 == 0, !filter.isEmpty else { return nil }
        return SeccompProgram(filter: filter, warnings: lines, pseudoCode: "")
    }

    static func write(_ program: SeccompProgram, to file: String, in dir: String) {
        var data = Data(magic.utf8)
        let warnings = program.warnings.map { $0.replacingOccurrences(of: "\n", with: " ") }
        data.append(Data("\(warnings.count)\n".utf8))
        for w in warnings { data.append(Data((w + "\n").utf8)) }
        data.append(contentsOf: program.filter)
        let tmp = dir + "/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else { return }
        if rename(tmp, file) != 0 { unlink(tmp) }
    }
}
