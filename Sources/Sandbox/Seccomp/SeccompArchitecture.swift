import CSeccomp

/// One seccomp architecture as named in Docker-format profiles.
///
/// Profiles name architectures two ways: `architectures` / `archMap` use libseccomp's
/// `SCMP_ARCH_*` names, while `includes.arches` / `excludes.arches` use Go's GOARCH
/// names (`amd64`, `arm64`, ...) plus a few extras (`x86`, `x32`, `s390`). Both spellings
/// are accepted wherever an architecture is named.
///
/// The table lists every architecture Docker knows, including some this libseccomp
/// (2.5.4) does not (e.g. LOONGARCH64): a profile that *mentions* them is valid; only the
/// native architecture is ever compiled into a filter (see `SeccompCompiler.swift`).
public struct SeccompArchitecture: Sendable, Hashable, CustomStringConvertible {
    /// The `SCMP_ARCH_*` name, e.g. "SCMP_ARCH_X86_64".
    public let name: String
    /// The audit architecture token (`AUDIT_ARCH_*`, what the kernel puts in
    /// `seccomp_data.arch`, and what `seccomp_arch_native()` returns). For x32, libseccomp's
    /// own distinct token.
    public let token: UInt32
    /// Other spellings accepted in `includes.arches` / `excludes.arches` (Go GOARCH names
    /// first).
    public let aliases: [String]

    public var description: String { name }

    /// Every spelling of this architecture.
    public var allNames: [String] { [name] + aliases }

    public static let known: [SeccompArchitecture] = [
        .init(name: "SCMP_ARCH_X86", token: 0x4000_0003, aliases: ["386", "x86", "i386"]),
        .init(name: "SCMP_ARCH_X86_64", token: 0xC000_003E, aliases: ["amd64", "x86_64"]),
        .init(name: "SCMP_ARCH_X32", token: 0x4000_003E, aliases: ["x32"]),
        .init(name: "SCMP_ARCH_ARM", token: 0x4000_0028, aliases: ["arm"]),
        .init(name: "SCMP_ARCH_AARCH64", token: 0xC000_00B7, aliases: ["arm64", "aarch64"]),
        .init(name: "SCMP_ARCH_MIPS", token: 0x0000_0008, aliases: ["mips"]),
        .init(name: "SCMP_ARCH_MIPS64", token: 0x8000_0008, aliases: ["mips64"]),
        .init(name: "SCMP_ARCH_MIPS64N32", token: 0xA000_0008, aliases: ["mips64n32"]),
        .init(name: "SCMP_ARCH_MIPSEL", token: 0x4000_0008, aliases: ["mipsle", "mipsel"]),
        .init(name: "SCMP_ARCH_MIPSEL64", token: 0xC000_0008, aliases: ["mips64le", "mipsel64"]),
        .init(name: "SCMP_ARCH_MIPSEL64N32", token: 0xE000_0008, aliases: ["mips64len32", "mipsel64n32"]),
        .init(name: "SCMP_ARCH_PPC", token: 0x0000_0014, aliases: ["ppc"]),
        .init(name: "SCMP_ARCH_PPC64", token: 0x8000_0015, aliases: ["ppc64"]),
        .init(name: "SCMP_ARCH_PPC64LE", token: 0xC000_0015, aliases: ["ppc64le"]),
        .init(name: "SCMP_ARCH_S390", token: 0x0000_0016, aliases: ["s390"]),
        .init(name: "SCMP_ARCH_S390X", token: 0x8000_0016, aliases: ["s390x"]),
        .init(name: "SCMP_ARCH_PARISC", token: 0x0000_000F, aliases: ["parisc"]),
        .init(name: "SCMP_ARCH_PARISC64", token: 0x8000_000F, aliases: ["parisc64"]),
        .init(name: "SCMP_ARCH_RISCV64", token: 0xC000_00F3, aliases: ["riscv64"]),
        .init(name: "SCMP_ARCH_LOONGARCH64", token: 0xC000_0102, aliases: ["loong64", "loongarch64"]),
        .init(name: "SCMP_ARCH_M68K", token: 0x0000_0004, aliases: ["m68k"]),
        .init(name: "SCMP_ARCH_SH", token: 0x4000_002A, aliases: ["sh"]),
        .init(name: "SCMP_ARCH_SHEB", token: 0x0000_002A, aliases: ["sheb"]),
    ]

    /// Looks an architecture up by any of its spellings (exact, case-sensitive, as Docker).
    public static func named(_ name: String) -> SeccompArchitecture? {
        known.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// The architecture this process runs as (what the filter is compiled for).
    public static var native: SeccompArchitecture {
        let token = seccomp_arch_native()
        if let arch = known.first(where: { $0.token == token }) { return arch }
        // Not in the table (cannot happen with the libseccomp versions we build against):
        // still usable, only the name is synthetic.
        return SeccompArchitecture(name: "SCMP_ARCH_0x" + String(token, radix: 16), token: token, aliases: [])
    }
}
