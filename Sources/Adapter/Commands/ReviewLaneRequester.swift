import Foundation
import Supervisor

/// `@bot review` through the review lane: the same review task a `review_requested`
/// delivery makes (`ReviewTrigger.reviewTask`), for a contract-v2 familiar; one per
/// comment, and none while a review of the same pull request is queued or running.
public struct ReviewLaneRequester: ReviewRequester {
    let store: TaskStore
    let supervisor: TaskSupervisor

    public init(store: TaskStore, supervisor: TaskSupervisor) {
        self.store = store
        self.supervisor = supervisor
    }

    public func requestReview(_ c: MaintainerCommand) async -> ReviewRequestOutcome {
        guard c.familiar.contractVersion == 2 else { return .notEnabled }
        // The comment's head is unknown (an issue_comment carries none): the attempt reviews
        // the head it finds, and a live review of the pull request covers the request.
        let id = "t_" + String(WebhookEndpoint.sha256Hex(Data("review:\(c.replyKey):\(c.familiar.id)".utf8)).prefix(16))
        let spec = TaskSpec(id: id, source: .webhook(deliveryID: c.deliveryID), installationID: c.installationID,
                            repo: c.repo, trigger: .prReviewComment, kind: .reviewPullRequest(prNumber: c.number),
                            familiar: c.familiar.ref, headRef: c.headRef, headSHA: c.headSHA,
                            contractVersion: c.familiar.contractVersion)
        do {
            let key = TriggerCoalescing.key(spec)
            let live = try store.tasks(onTarget: "\(c.repo.owner)/\(c.repo.name)", number: c.number).first {
                ($0.state == .queued || $0.state == .running) && TriggerCoalescing.key($0.spec) == key
            }
            if let live { return .queued(taskID: live.id) }
            try TaskValidation.validate(spec)
            switch try supervisor.submit(spec) {
            case .admitted: return .queued(taskID: spec.id)
            case .refused(let reason): return .declined(reason: reason)
            }
        } catch StoreError.duplicateTask(let existing) {
            return .queued(taskID: existing)
        } catch {
            return .declined(reason: "\(error)")
        }
    }
}
