import Foundation
import Supervisor

/// Which pull-request events start a review, and the one way a review task is made
/// (`reviewTask`, also what a maintainer's `@bot review` command calls).
///
/// Policy, per familiar and repository (`FamiliarConfig.review`), first matching familiar
/// in `familiars` order wins:
/// - `opened`, `synchronize`, `reopened`, `ready_for_review`: reviewed when the trigger is
///   `always`, or `label` and the PR carries the label;
/// - `labeled`: reviewed when the label added is the review label (`label` or `always`);
/// - `review_requested` from a familiar's bot: reviewed whatever the trigger (even `off`);
/// - drafts are never reviewed (`ready_for_review` starts it), nor is a PR the familiar
///   itself authored;
/// - only contract-v2 familiars review automatically; a review requested from a v1
///   familiar's bot becomes a task that is refused with a note (`TaskSupervisor.refusal`).
/// A review task pins the PR's head SHA: a newer push supersedes it (`TriggerCoalescing`).
public enum ReviewTrigger {
    /// `pull_request` actions that start a review when the policy says so.
    public static let automaticActions: Set<String> = ["opened", "synchronize", "reopened", "ready_for_review", "labeled"]

    /// Queue a review of pull request `number` of `repository` for `familiar`: the task that
    /// does it, as a decision for the delivery. `headSHA` pins the commit reviewed (a
    /// review of a newer one supersedes it); nil reviews the PR's head when the attempt
    /// runs, and joins a live review of the same PR instead of starting a second. A v1
    /// familiar gets the task too, and it is refused with a note when claimed.
    public static func reviewTask(familiar: FamiliarConfig, repository: GitHubRepository, installationID: Int64?,
                                  pullRequest number: Int, headSHA: String? = nil, headRef: String? = nil,
                                  deliveryID: String, event: String,
                                  makeTaskID: () -> String = TaskID.generate) -> WebhookDecision {
        .task(TaskSpec(id: makeTaskID(), source: .webhook(deliveryID: deliveryID), installationID: installationID,
                       repo: WebhookIntake.repoRef(repository), trigger: .prReviewComment,
                       kind: .reviewPullRequest(prNumber: number), familiar: familiar.ref,
                       headRef: headRef, headSHA: headSHA, contractVersion: familiar.contractVersion),
              event: event)
    }

    /// Routes a `pull_request` delivery.
    static func route(_ p: PullRequestPayload, deliveryID: String, familiars: [FamiliarConfig],
                      makeTaskID: () -> String) -> WebhookDecision {
        let event = "pull_request.\(p.action)"
        let pr = p.pullRequest
        func task(_ f: FamiliarConfig) -> WebhookDecision {
            reviewTask(familiar: f, repository: p.repository, installationID: p.installation?.id, pullRequest: pr.number,
                       headSHA: pr.head?.sha, headRef: pr.head?.ref, deliveryID: deliveryID, event: event,
                       makeTaskID: makeTaskID)
        }
        func authored(_ f: FamiliarConfig) -> Bool { pr.user.map { f.isBot(login: $0.login) } ?? false }

        if p.action == "review_requested" {
            guard let asked = p.requestedReviewer, let f = familiars.first(where: { $0.isBot(login: asked.login) }) else {
                return .ignored(.noFamiliarMatched(event: event))
            }
            if pr.draft == true { return .ignored(.draftPullRequest(event: event)) }
            if authored(f) { return .ignored(.authoredByFamiliar(event: event, login: pr.user?.login ?? "")) }
            return task(f)
        }
        guard automaticActions.contains(p.action) else {
            return .ignored(.unhandledAction(event: "pull_request", action: p.action))
        }
        if pr.draft == true { return .ignored(.draftPullRequest(event: event)) }
        var why: [String] = []
        for f in familiars {
            let policy = f.review.policy(owner: p.repository.owner.login, name: p.repository.name)
            if let skip = skipReason(f, policy, p, authored: authored(f)) {
                why.append("\(f.id): \(skip)")
                continue
            }
            return task(f)
        }
        return .ignored(.noReview(event: event, why: why))
    }

    /// Why `f` does not review this delivery's PR automatically, or nil when it does.
    static func skipReason(_ f: FamiliarConfig, _ policy: ReviewPolicy, _ p: PullRequestPayload, authored: Bool) -> String? {
        if f.contractVersion < 2 { return "speaks contract v\(f.contractVersion), reviews need v2" }
        if authored { return "authored the pull request" }
        switch policy.trigger {
        case .off:
            return "automatic reviews are off"
        case .always:
            if p.action == "labeled", !(p.label.map { policy.isLabel($0.name) } ?? false) {
                return "the label added is not \(policy.label)"
            }
            return nil
        case .label:
            let wanted: Bool
            if p.action == "labeled" {
                wanted = p.label.map { policy.isLabel($0.name) } ?? false
            } else {
                wanted = p.pullRequest.labels?.contains { policy.isLabel($0.name) } ?? false
            }
            return wanted ? nil : "no label \(policy.label)"
        }
    }
}
