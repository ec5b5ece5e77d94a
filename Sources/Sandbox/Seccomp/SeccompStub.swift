// TEMPORARY stand-in until the seccomp compiler lands (deleted at merge).
import Foundation
public struct SeccompError: Error, CustomStringConvertible, Sendable { public let description: String }
public struct SeccompProgram: Sendable {
    public let filter: [UInt8]
    public var instructionCount: Int { filter.count / 8 }
    public let warnings: [String]
}
public struct SeccompProfile: Sendable {
    public static func load(nameOrPath: String) throws -> SeccompProfile { SeccompProfile() }
    public func compile() throws -> SeccompProgram { SeccompProgram(filter: [], warnings: []) }
}
