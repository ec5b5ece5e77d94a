import Foundation

/// A user's permission on a repository, as
/// `GET /repos/{o}/{r}/collaborators/{user}/permission` gives it: `permission` is one of
/// admin, write, read, none (maintain shows as write, triage as read); `role_name` names
/// the exact role (admin, maintain, write, triage, read, or a custom role).
public struct CollaboratorPermission: Sendable, Equatable {
    public var permission: String
    public var roleName: String?

    public init(permission: String, roleName: String? = nil) { self.permission = permission; self.roleName = roleName }

    public static let none = CollaboratorPermission(permission: "none")

    /// Write, maintain or admin: what a maintainer's changing command needs.
    public var canWrite: Bool {
        ["admin", "write"].contains(permission.lowercased())
            || ["admin", "maintain", "write"].contains(roleName?.lowercased() ?? "")
    }

    /// The role to name in a refusal.
    public var displayName: String { roleName ?? permission }
}

extension GitHubClient {
    /// `GET /repos/{o}/{r}/collaborators/{user}/permission`. A user GitHub does not know
    /// as a collaborator (404) has no permission.
    public func collaboratorPermission(_ repo: Repo, user: String, auth: Auth) async throws -> CollaboratorPermission {
        struct Body: Decodable { var permission: String; var role_name: String? }
        let path = repo.path + "/collaborators/" + Self.segment(user) + "/permission"
        do {
            let r = try await repoCall("GET", repo, path, auth: auth)
            let b = try decode(Body.self, r, "GET \(path)")
            return CollaboratorPermission(permission: b.permission, roleName: b.role_name)
        } catch let e as GitHubAPIError where e.isHTTP(404) {
            return .none
        }
    }
}
