import Foundation
import Supervisor

/// A review task's publication: one pull request review on the commit reviewed.
extension GitHubPublisher {
    struct PublishedReview: Sendable {
        var output: GitHubClient.CheckRunOutput
        /// For the status comment.
        var note: String
    }

    /// Gates the findings (`ReviewPlan`) and posts one review with `commit_id` = the commit
    /// reviewed (the task's pinned SHA, else its Check Run's head), findings on diff lines
    /// inline (path/line/side RIGHT), the rest in the body; COMMENT, or REQUEST_CHANGES
    /// when the policy's threshold is reached. Safe to repeat: the task's review is found
    /// by its marker and not posted twice. When GitHub cannot place an inline comment
    /// (422), the review is posted once more with every finding in the body.
    func publishReview(_ task: TaskSpec, _ ctx: Context, _ result: ResultEnvelope, _ review: ReviewReport) async throws
        -> PublishedReview
    {
        guard let number = task.kind.pullRequestNumber else {
            throw GitHubAPIError(kind: .configuration, endpoint: "-", message: "a review task without a pull request")
        }
        let policy = options.reviewPolicy(task)
        let sha = try await headSHA(task, ctx)
        let files = try await client.pullRequestFiles(ctx.repo, number: number, auth: ctx.auth)
        let reviews = try await client.pullRequestReviews(ctx.repo, number: number, auth: ctx.auth)
        let comments = try await client.pullRequestReviewComments(ctx.repo, number: number, auth: ctx.auth)
        let marker = ReviewText.reviewMarker(taskID: task.id)
        let ours = reviews.first { $0.userType == "Bot" && $0.body.contains(marker) }
        // The bot's earlier findings on this PR; this task's own review (a repeated
        // publication) is not "earlier".
        var earlier = Set<String>()
        for r in reviews where r.userType == "Bot" && r.id != ours?.id { earlier.formUnion(ReviewPlan.fingerprints(in: r.body)) }
        for c in comments where c.userType == "Bot" && (ours == nil || c.reviewID != ours?.id) {
            earlier.formUnion(ReviewPlan.fingerprints(in: c.body))
        }
        var plan = ReviewPlan.make(review: review, files: files, policy: policy, earlierFingerprints: earlier)

        let posted: GitHubClient.PullRequestReview
        if let ours {
            posted = ours
        } else {
            let inline = plan.inline.map {
                GitHubClient.DraftReviewComment(path: $0.path, line: $0.line, body: ReviewText.comment($0.finding))
            }
            do {
                posted = try await client.createPullRequestReview(
                    ctx.repo, number: number, commitID: sha,
                    body: ReviewText.body(task: task, sha: sha, result: result, plan: plan, policy: policy),
                    event: plan.event, comments: inline, auth: ctx.auth)
            } catch let e as GitHubAPIError where e.isHTTP(422) && !inline.isEmpty {
                log("github: task \(task.id): inline review comments refused (\(Self.shortError(e))); posting them in the body")
                plan.inBody = plan.inline.map(\.finding) + plan.inBody
                plan.inline = []
                posted = try await client.createPullRequestReview(
                    ctx.repo, number: number, commitID: sha,
                    body: ReviewText.body(task: task, sha: sha, result: result, plan: plan, policy: policy),
                    event: plan.event, comments: [], auth: ctx.auth)
            }
        }
        let event = posted.state ?? plan.event.rawValue
        options.onPublished?("pull_request_review_posted", [
            "task": task.id, "repo": "\(task.repo.owner)/\(task.repo.name)", "number": String(number),
            "review": String(posted.id), "commit": sha, "event": plan.event.rawValue,
            "inline": String(plan.inline.count), "in_body": String(plan.inBody.count),
            "withheld_outside_files": String(plan.withheldOutsideFiles),
            "withheld_below_severity": String(plan.withheldBelowSeverity), "skipped_duplicates": String(plan.skippedDuplicates),
        ])
        let output = ReviewText.checkRunOutput(result: result, review: review, plan: plan, policy: policy,
                                               posted: "review \(posted.id) (\(event))", note: nil)
        let count = plan.published.count
        return PublishedReview(output: output,
                               note: "Posted a review of \(sha.prefix(12)): \(count) finding\(count == 1 ? "" : "s").")
    }
}
