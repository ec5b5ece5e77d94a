import CSandbox

/// The step a sandbox's set-up failed at. One list for the supervisor's steps, the
/// launcher's and init's, defined once in C (`enum cs_stage` in csandbox.h) and seen here
/// as a Swift enum, so callers and tests match stages as values.
public typealias SetupStage = CSandbox.SetupStage

extension SetupStage: @retroactive CustomStringConvertible, @retroactive Codable, @unchecked @retroactive Sendable {
    /// Every stage, in the C enum's order.
    public static let all: [SetupStage] = (0..<UInt32(CS_STAGE_COUNT)).compactMap { SetupStage(rawValue: $0) }

    /// The stage a C-side record names, or `.launcher` for a code outside the enum (imported
    /// C enums accept any raw value, so it is checked here).
    static func from(code: Int32) -> SetupStage {
        guard code >= 0, code < Int32(CS_STAGE_COUNT), let s = SetupStage(rawValue: UInt32(code)) else { return .launcher }
        return s
    }

    /// The stable, human-readable name ("mount /proc", "cgroup", "clone (namespaces)"):
    /// what reports, logs and JSON show.
    public var name: String { String(cString: cs_stage_name(Int32(bitPattern: rawValue))) }

    public var description: String { name }

    /// The stage a name stands for. Also reads the free-text stages older reports stored
    /// ("bind /x", "sandbox launch: …"): the longest stage name the text starts with.
    public init?(name: String) {
        if let exact = Self.all.first(where: { $0.name == name }) { self = exact; return }
        guard let prefix = Self.all.filter({ name.hasPrefix($0.name) }).max(by: { $0.name.count < $1.name.count }) else {
            return nil
        }
        self = prefix
    }

    /// True for the steps the supervisor takes before the clone (their failures are about this
    /// host or the spec, not about the sandbox's own set-up).
    public var isBeforeClone: Bool {
        switch self {
        case .spec, .seccompProfile, .identity, .egressProxy, .cgroup, .output: return true
        default: return false
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = SetupStage(name: text) ?? .launcher
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

extension cs_error_record {
    /// The NUL-terminated detail (a path, a step), as text.
    var detailText: String {
        withUnsafeBytes(of: detail) { raw -> String in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[0..<end], as: UTF8.self)
        }
    }
}
