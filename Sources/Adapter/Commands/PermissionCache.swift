import Foundation
import Synchronization

/// Collaborator permissions, cached for a short time per installation, repository and
/// user: a burst of commands costs one lookup, and a permission GitHub revoked stops
/// counting within `lifetime`.
public final class PermissionCache: Sendable {
    public typealias Lookup = @Sendable (_ installation: Int64, _ repo: GitHubClient.Repo, _ user: String) async throws
        -> CollaboratorPermission

    struct Key: Hashable { var installation: Int64; var repo: String; var user: String }

    public let lifetime: TimeInterval
    private let lookup: Lookup
    private let clock: @Sendable () -> Date
    private let entries = Mutex<[Key: (CollaboratorPermission, Date)]>([:])

    public init(lifetime: TimeInterval = 60, clock: @escaping @Sendable () -> Date = { Date() }, lookup: @escaping Lookup) {
        self.lifetime = lifetime
        self.clock = clock
        self.lookup = lookup
    }

    /// Over `client`: `GET /repos/{o}/{r}/collaborators/{user}/permission` with the
    /// installation's publication token.
    public convenience init(client: GitHubClient, lifetime: TimeInterval = 60, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.init(lifetime: lifetime, clock: clock) { installation, repo, user in
            try await client.collaboratorPermission(repo, user: user, auth: .installation(installation))
        }
    }

    public func permission(installation: Int64, repo: GitHubClient.Repo, user: String) async throws -> CollaboratorPermission {
        let key = Key(installation: installation, repo: repo.description.lowercased(), user: user.lowercased())
        let now = clock()
        if let (p, expires) = entries.withLock({ $0[key] }), expires > now { return p }
        let p = try await lookup(installation, repo, user)
        entries.withLock { m in
            m = m.filter { $0.value.1 > now }   // drop expired ones: the map stays small
            m[key] = (p, now.addingTimeInterval(lifetime))
        }
        return p
    }
}
