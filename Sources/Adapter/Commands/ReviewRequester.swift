import Foundation

/// Where `@bot review` queues a pull request review. The review lane (contract v2)
/// provides the real one; until a familiar has it, `ReviewsNotEnabled` answers.
public protocol ReviewRequester: Sendable {
    /// Queues a review of the pull request `command` was written on (its permission has
    /// been checked already) and says what became of it.
    func requestReview(_ command: MaintainerCommand) async -> ReviewRequestOutcome
}

/// What `ReviewRequester.requestReview` did, as the reply says it.
public enum ReviewRequestOutcome: Sendable, Equatable {
    /// A review task was queued (or one already queued covers it).
    case queued(taskID: String)
    /// The familiar does not review pull requests.
    case notEnabled
    /// Not queued, for `reason` (e.g. a draft, a PR the familiar wrote).
    case declined(reason: String)
}

/// The default: no familiar reviews.
public struct ReviewsNotEnabled: ReviewRequester {
    public init() {}
    public func requestReview(_ command: MaintainerCommand) async -> ReviewRequestOutcome { .notEnabled }
}
