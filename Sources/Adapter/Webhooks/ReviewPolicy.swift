import Foundation
import Supervisor

/// When a familiar reviews pull requests, and what its reviews may publish
/// (`familiars[].review` in the configuration, optionally per repository).
public struct ReviewPolicy: Sendable, Equatable {
    public enum Trigger: String, Sendable, Equatable, CaseIterable {
        /// Pull requests carrying `label` (added, or present when the PR opens or moves on).
        case label
        /// Every pull request that is not a draft.
        case always
        /// No automatic reviews (a review requested from the bot, or `@bot review`, still runs).
        case off
    }

    public var trigger: Trigger
    /// The opt-in label (compared case-insensitively, as GitHub compares label names).
    public var label: String
    /// The event is `REQUEST_CHANGES` when a published finding is at least this severe; nil: always `COMMENT`.
    public var requestChangesAt: ReviewReport.Severity?
    /// Findings below this are withheld.
    public var minSeverity: ReviewReport.Severity

    public static let defaultLabel = "coven:review"

    public init(trigger: Trigger = .label, label: String = ReviewPolicy.defaultLabel,
                requestChangesAt: ReviewReport.Severity? = nil, minSeverity: ReviewReport.Severity = .info) {
        self.trigger = trigger; self.label = label; self.requestChangesAt = requestChangesAt; self.minSeverity = minSeverity
    }

    public func isLabel(_ name: String) -> Bool { name.lowercased() == label.lowercased() }
}

/// A familiar's review policy and its per-repository overrides.
public struct FamiliarReviewPolicy: Sendable, Equatable {
    public var base: ReviewPolicy
    /// Lowercased `owner/name` → the policy there (the base with the repository's keys applied).
    public var repositories: [String: ReviewPolicy]

    public init(base: ReviewPolicy = ReviewPolicy(), repositories: [String: ReviewPolicy] = [:]) {
        self.base = base
        self.repositories = Dictionary(repositories.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
    }

    /// The policy for one repository (GitHub compares owner and name without case).
    public func policy(owner: String, name: String) -> ReviewPolicy {
        repositories["\(owner)/\(name)".lowercased()] ?? base
    }
}
