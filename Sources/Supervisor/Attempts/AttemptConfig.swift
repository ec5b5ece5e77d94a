import Foundation
import Sandbox

/// How attempts run: the runtime, its sandbox, and where per-attempt files live.
public struct AttemptConfig: Sendable {
    /// The runtime's argv (`--headless --context ... --output ...` are appended).
    public var runtime: [String]
    public var timeout: Duration
    public var grace: Duration
    /// `.proxy` (the default): only what `egress` allows, through a per-attempt proxy.
    public var network: NetworkMode
    /// What an attempt may reach in `.proxy` mode. The repository's host must be
    /// covered (the default covers github.com).
    public var egress: EgressPolicy
    /// Policies for the tasks of particular familiars (familiar id → policy), used
    /// instead of `egress` for them; tasks of other familiars get `egress`.
    public var egressForFamiliar: [String: EgressPolicy]
    /// Seccomp profile name or path; compiled once per config.
    public var seccompProfile: String
    public var limits: ResourceLimits
    public var workspaceSize: UInt64
    /// Size of the attempt's writable `/run/coven/out` (as root, a tmpfs of this size on the
    /// host, so an attempt cannot fill the disk the store lives on).
    public var outSize: UInt64
    /// Extra read-only / writable binds (e.g. where the runtime is installed).
    public var binds: [Bind]
    /// Opt-in: also put the token in COVEN_GIT_TOKEN for runtimes that read it.
    public var exposeTokenEnv: Bool
    /// Per-stream cap of output kept in the store (after redaction).
    public var outputCap: Int
    /// The daemon's own secrets (the webhook secret), redacted from every attempt's output
    /// and result like the attempt's git token.
    public var redactedSecrets: [String] = []
    /// Where per-attempt directories are made (under the state directory).
    public var attemptsDirectory: String
    /// The coven-askpass binary copied into each attempt.
    public var askpassBinary: String

    public init(runtime: [String], attemptsDirectory: String, askpassBinary: String = AttemptConfig.defaultAskpassBinary(),
                timeout: Duration = .seconds(1800), grace: Duration = .seconds(10), network: NetworkMode = .proxy,
                egress: EgressPolicy = .daemonDefault, egressForFamiliar: [String: EgressPolicy] = [:],
                seccompProfile: String = "default",
                limits: ResourceLimits = ResourceLimits(memoryBytes: 4 << 30, pids: 1024, cpus: nil),
                workspaceSize: UInt64 = 4 << 30, outSize: UInt64 = AttemptConfig.defaultOutSize, binds: [Bind] = [], exposeTokenEnv: Bool = false,
                outputCap: Int = Redactor.defaultCap) {
        self.runtime = runtime
        self.attemptsDirectory = attemptsDirectory
        self.askpassBinary = askpassBinary
        self.timeout = timeout
        self.grace = grace
        self.network = network
        self.egress = egress
        self.egressForFamiliar = egressForFamiliar
        self.seccompProfile = seccompProfile
        self.limits = limits
        self.workspaceSize = workspaceSize
        self.outSize = outSize
        self.binds = binds
        self.exposeTokenEnv = exposeTokenEnv
        self.outputCap = outputCap
    }

    /// The policy `task`'s attempts run under in `.proxy` mode.
    public func egress(for task: TaskSpec) -> EgressPolicy {
        egressForFamiliar[task.familiar.id] ?? egress
    }

    /// What `/run/coven/out` holds is small: result.json (at most 1 MiB), status files.
    public static let defaultOutSize: UInt64 = 64 << 20

    /// `coven-askpass` next to the running executable (or the test runner), or $COVEN_ASKPASS.
    public static func defaultAskpassBinary() -> String {
        if let env = ProcessInfo.processInfo.environment["COVEN_ASKPASS"], !env.isEmpty { return env }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-askpass").path
    }
}
