import Foundation
import Supervisor

extension ConfigLoader {
    static let installationKeys = ["id", "repositories", "familiars", "max_concurrent", "max_tasks_per_day",
                                   "max_attempt_minutes_per_day", "over_limit"]

    /// `installations`: which installations (and their repositories and familiars) this
    /// daemon serves, and each one's limits. Absent: all, unlimited. Present, it must list
    /// at least one: an empty list would refuse every delivery.
    static func parseInstallations(_ top: Obj, familiars: [FamiliarConfig]) throws(ConfigError) -> InstallationPolicy {
        guard let list = try top.array("installations") else { return InstallationPolicy() }
        guard !list.isEmpty else {
            throw ConfigError("installations", "must list at least one installation (leave the key out to serve every installation)")
        }
        var entries: [InstallationPolicy.Entry] = []
        for (i, item) in list.enumerated() {
            let o = try Obj(item, path: "installations[\(i)]")
            try o.allow(installationKeys)
            guard let id = try o.integer("id", min: 1, max: Int(Int64.max >> 11)) else {
                throw ConfigError(o.key("id"), "is required (the installation's id, as in its webhook deliveries)")
            }
            guard !entries.contains(where: { $0.id == Int64(id) }) else {
                throw ConfigError(o.key("id"), "\(id) is listed twice")
            }
            let repositories = try o.stringArray("repositories")
            for (j, r) in (repositories ?? []).enumerated() {
                let parts = r.split(separator: "/", omittingEmptySubsequences: false)
                let ok = parts.count == 2 && parts.allSatisfy { p in
                    !p.isEmpty && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
                } || (parts.count == 2 && parts[1] == "*" && !parts[0].isEmpty)
                guard ok else {
                    throw ConfigError(o.key("repositories") + "[\(j)]", "\(quote(r)) is not OWNER/NAME or OWNER/*")
                }
            }
            let familiarIDs = try o.stringArray("familiars")
            for (j, f) in (familiarIDs ?? []).enumerated() where !familiars.contains(where: { $0.id == f }) {
                throw ConfigError(o.key("familiars") + "[\(j)]", "\(quote(f)) is not the id of a configured familiar")
            }
            var limits = InstallationLimits(maxConcurrent: try o.integer("max_concurrent", min: 1, max: 10_000),
                                            maxTasksPerDay: try o.integer("max_tasks_per_day", min: 1, max: 1_000_000),
                                            maxAttemptMinutesPerDay: try o.integer("max_attempt_minutes_per_day", min: 1,
                                                                                   max: 1_000_000))
            if let text = try o.string("over_limit") {
                guard let mode = InstallationLimits.OverLimit(rawValue: text) else {
                    throw ConfigError(o.key("over_limit"), "\(quote(text)) must be \"queue\" or \"refuse\"")
                }
                limits.overLimit = mode
            }
            entries.append(InstallationPolicy.Entry(id: Int64(id), repositories: repositories, familiars: familiarIDs,
                                                    limits: limits))
        }
        return InstallationPolicy(entries: entries)
    }
}
