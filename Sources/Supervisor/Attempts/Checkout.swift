import Foundation

/// What the pre-clone puts in /workspace, and so where the runtime's commits go: the
/// runtime works on, and pushes, the branch it finds checked out.
public enum Checkout: Sendable, Equatable {
    /// Clone this branch of the task's repository: the default branch, or the head branch
    /// of a pull request in the same repository (commits then land on the pull request).
    case branch(String)
    /// A pull request from a fork: the fork cannot be pushed to with the task's token, so
    /// clone `base`, fetch the head from the task's repository (GitHub keeps every pull
    /// request's head there, at `refs/pull/N/head`) and check it out as a new branch
    /// `branch`, which the runtime pushes to the task's repository.
    case forkHead(pullRequest: Int, base: String, branch: String)
    /// A review: clone `base` (so the agent can diff against it), fetch `fetch` (the PR's
    /// head: `refs/pull/N/head`, or a branch in local mode) and check out `sha` detached
    /// (the fetched head when nil). Nothing is pushed.
    case reviewHead(base: String, fetch: String, sha: String?)

    /// The branch cloned first.
    public var cloneBranch: String {
        switch self {
        case .branch(let b): return b
        case .forkHead(_, let base, _), .reviewHead(let base, _, _): return base
        }
    }

    /// The branch checked out when the runtime starts.
    public var workBranch: String {
        switch self {
        case .branch(let b): return b
        case .forkHead(_, _, let b): return b
        case .reviewHead(_, _, let sha): return sha ?? "HEAD"
        }
    }

    /// A fork's head as the task's repository serves it.
    public static func pullHeadRef(_ number: Int) -> String { "refs/pull/\(number)/head" }

    /// The new branch a fork pull request's task works on.
    public static func forkBranch(taskID: String) -> String { "coven/" + taskID }

    /// Without a resolver (local mode, `run-task`): the task's own head ref (taken as a
    /// branch of its repository), else the default branch.
    public static func fromSpec(_ task: TaskSpec) -> Checkout {
        if case .reviewPullRequest(let n) = task.kind {
            let head = task.headRef?.trimmingCharacters(in: .whitespaces) ?? ""
            return .reviewHead(base: task.repo.defaultBranch, fetch: head.isEmpty ? pullHeadRef(n) : "refs/heads/" + head,
                               sha: task.headSHA)
        }
        if let ref = task.headRef?.trimmingCharacters(in: .whitespaces), !ref.isEmpty { return .branch(ref) }
        return .branch(task.repo.defaultBranch)
    }
}

/// Why the checkout of a task could not be decided.
public enum CheckoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The pull request does not exist (any more): retrying cannot help.
    case pullRequestNotFound(Int)
    /// The lookup failed for a reason that may pass (no answer, 5xx, rate limited).
    case unavailable(String)

    public var description: String {
        switch self {
        case .pullRequestNotFound(let n): return "pull request #\(n) not found"
        case .unavailable(let why): return "could not look up the pull request: \(why)"
        }
    }
}

/// Decides each attempt's checkout right before it runs (the GitHub App resolver lives in
/// the Adapter): a pull request's head is looked up then, so the attempt works on the
/// code as it is now, not as it was when the trigger arrived.
public protocol CheckoutResolver: Sendable {
    func checkout(for task: TaskSpec) async throws(CheckoutError) -> Checkout
    /// A review's changed files (the brief's `review_context.files`); called after
    /// `checkout`, for reviews only.
    func reviewFiles(for task: TaskSpec) async throws(CheckoutError) -> [String]
}

extension CheckoutResolver {
    public func reviewFiles(for task: TaskSpec) async throws(CheckoutError) -> [String] { [] }
}
