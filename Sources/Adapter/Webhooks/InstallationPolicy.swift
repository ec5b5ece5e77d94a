import Foundation
import Supervisor

/// Which installations of the App, which of their repositories, and which familiars this
/// daemon serves, and each installation's limits (`installations[]` in the configuration).
///
/// No entries: every installation is served, without limits. Once there is one entry, an
/// installation without an entry is refused: its deliveries are acknowledged 200
/// "ignored" with the reason, so GitHub does not retry them.
public struct InstallationPolicy: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        /// `owner/name` or `owner/*` (case-insensitive); nil: every repository.
        public var repositories: [String]?
        /// Familiar ids that serve this installation; nil: all of them.
        public var familiars: [String]?
        public var limits: InstallationLimits

        public init(id: Int64, repositories: [String]? = nil, familiars: [String]? = nil,
                    limits: InstallationLimits = InstallationLimits()) {
            self.id = id; self.repositories = repositories; self.familiars = familiars; self.limits = limits
        }

        func serves(repository fullName: String) -> Bool {
            guard let repositories else { return true }
            let name = fullName.lowercased()
            let owner = name.split(separator: "/").first.map(String.init) ?? name
            return repositories.contains { pattern in
                let p = pattern.lowercased()
                return p == name || p == owner + "/*"
            }
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    /// True once any entry exists.
    public var isActive: Bool { !entries.isEmpty }

    public func entry(_ installation: Int64) -> Entry? { entries.first { $0.id == installation } }

    /// Each installation's limits, for the store's admission and claim.
    public var limits: [Int64: InstallationLimits] {
        Dictionary(entries.map { ($0.id, $0.limits) }, uniquingKeysWith: { a, _ in a })
    }

    /// Why a delivery of `installation` is not served at all (nil: it is).
    public func refusal(installation: Int64?, event: String) -> IgnoreReason? {
        guard isActive else { return nil }
        guard let installation, entry(installation) != nil else { return .installationNotServed(event: event, installation: installation) }
        return nil
    }

    /// Why `familiar` may not work on `repository` of `installation` (nil: it may).
    public func refusal(installation: Int64?, repository: String, familiar: String, event: String) -> IgnoreReason? {
        if let r = refusal(installation: installation, event: event) { return r }
        guard isActive, let installation, let e = entry(installation) else { return nil }
        if !e.serves(repository: repository) {
            return .repositoryNotServed(event: event, installation: installation, repository: repository)
        }
        if let ids = e.familiars, !ids.contains(familiar) {
            return .familiarNotServing(event: event, installation: installation, familiar: familiar)
        }
        return nil
    }
}
