// TEMPORARY stand-in until the cgroup controller lands (deleted at merge).
import Foundation
public struct ResourceLimits: Sendable, Equatable {
    public var memoryBytes: UInt64?
    public var pids: Int?
    public var cpus: Double?
    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes; self.pids = pids; self.cpus = cpus
    }
}
public enum CgroupVersion: String, Sendable { case v1, v2, none }
public struct CgroupError: Error, CustomStringConvertible, Sendable { public let description: String }
public enum Cgroups {
    public static func create(name: String, limits: ResourceLimits) throws -> SandboxCgroup { SandboxCgroup() }
}
public final class SandboxCgroup: Sendable {
    public var version: CgroupVersion { .none }
    public var procsFiles: [String] { [] }
    public func pids() -> [pid_t] { [] }
    public func oomKillCount() -> UInt64 { 0 }
    public func peakMemoryBytes() -> UInt64? { nil }
    public func cpuTimeSeconds() -> Double? { nil }
    public func killAll() {}
    public func destroy() {}
}
