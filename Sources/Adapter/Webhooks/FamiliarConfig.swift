import Foundation
import Supervisor

/// One configured familiar (bot identity) and what routes work to it.
public struct FamiliarConfig: Sendable, Codable, Equatable {
    /// Stable id, e.g. "cody".
    public var id: String
    /// Human-readable name, e.g. "Cody".
    public var displayName: String
    /// The GitHub login of the bot, e.g. "coven-cody[bot]" (a trailing `[bot]` is optional).
    public var botUsername: String
    /// Issue labels that hand an issue to this familiar (compared case-insensitively).
    public var triggerLabels: [String]
    /// Model the agent runs with (nil: the runner's default).
    public var model: String?
    /// Skills made available to the agent.
    public var skills: [String]
    /// What this familiar's attempts may reach besides the sandbox-level egress policy
    /// (`familiars[].egress` in the configuration; not part of the Codable form).
    public var egress: EgressAdditions?
    /// The headless contract its runtime speaks: 1 (default) or 2; only 2 reviews pull requests.
    public var contractVersion: Int
    /// When it reviews pull requests and what its reviews publish (`familiars[].review`).
    public var review: FamiliarReviewPolicy

    public init(id: String, displayName: String, botUsername: String, triggerLabels: [String] = [],
                model: String? = nil, skills: [String] = [], egress: EgressAdditions? = nil,
                contractVersion: Int = 1, review: FamiliarReviewPolicy = FamiliarReviewPolicy()) {
        self.id = id; self.displayName = displayName; self.botUsername = botUsername
        self.triggerLabels = triggerLabels; self.model = model; self.skills = skills; self.egress = egress
        self.contractVersion = contractVersion; self.review = review
    }

    enum CodingKeys: String, CodingKey {
        case id, displayName = "display_name", botUsername = "bot_username"
        case triggerLabels = "trigger_labels", model, skills
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        botUsername = try c.decode(String.self, forKey: .botUsername)
        displayName = try c.decodeIfPresent(String.self, forKey: .displayName) ?? id
        triggerLabels = try c.decodeIfPresent([String].self, forKey: .triggerLabels) ?? []
        model = try c.decodeIfPresent(String.self, forKey: .model)
        skills = try c.decodeIfPresent([String].self, forKey: .skills) ?? []
        egress = nil
        contractVersion = 1
        review = FamiliarReviewPolicy()
    }

    /// The mention handle: the bot username without `@` or a trailing `[bot]`, e.g. "coven-cody".
    public var handle: String { GitHubLogin.normalized(botUsername) }

    /// The task model's view of this familiar.
    public var ref: FamiliarRef { FamiliarRef(id: id, displayName: displayName, model: model, skills: skills) }

    /// True when `login` is this familiar's bot (case-insensitive; `name[bot]` == `name`).
    public func isBot(login: String) -> Bool {
        let h = handle
        return !h.isEmpty && GitHubLogin.normalized(login) == h
    }

    /// True when `label` is one of the trigger labels (case-insensitive, as GitHub treats label names).
    public func isTriggerLabel(_ label: String) -> Bool {
        let l = label.lowercased()
        return triggerLabels.contains { $0.lowercased() == l }
    }
}

/// GitHub login comparison rules.
public enum GitHubLogin {
    /// Lowercased, without a leading `@` or a trailing `[bot]`: "Coven-Cody[bot]" → "coven-cody".
    public static func normalized(_ login: String) -> String {
        var s = login.trimmingCharacters(in: .whitespaces).lowercased()
        if s.hasPrefix("@") { s.removeFirst() }
        if s.hasSuffix("[bot]") { s.removeLast(5) }
        return s
    }
}
