import Foundation
import Supervisor

// `GitTokenProvider` is the Supervisor's protocol (Credentials/GitTokenProvider.swift).

/// A GitHub installation token on the task's repository only: `contents: write`, or
/// `contents: read` for a review, which only reads (its runtime cannot push).
public struct GitHubGitTokenProvider: GitTokenProvider {
    public let client: GitHubClient

    public init(client: GitHubClient) { self.client = client }

    /// Throws `GitHubAPIError` (`.configuration` for a task without an installation).
    public func gitToken(for task: TaskSpec) async throws -> String {
        try await installationToken(for: task).token
    }

    /// `DELETE /installation/token` with the attempt's token (one try, no retries).
    public func revokeGitToken(_ token: String, for task: TaskSpec) async throws {
        try await client.revokeInstallationToken(token)
    }

    /// The token with its scope and expiry.
    public func installationToken(for task: TaskSpec) async throws -> InstallationToken {
        guard let installation = task.installationID else {
            throw GitHubAPIError(kind: .configuration, endpoint: "POST /app/installations/{id}/access_tokens",
                                 message: "task \(task.id) has no GitHub App installation")
        }
        return try await client.gitToken(installationID: installation, repository: task.repo.name, readOnly: task.kind.isReview)
    }
}
