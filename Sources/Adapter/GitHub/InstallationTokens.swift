import Foundation
import Supervisor

/// What an installation access token may do: GitHub narrows the token to these
/// repositories (names, without the owner) and permissions (`read`/`write`).
public struct InstallationTokenScope: Sendable, Equatable, CustomStringConvertible {
    /// Repository names; nil for every repository of the installation.
    public var repositories: [String]?
    /// Permission name → `read` or `write`; empty for everything the installation has.
    public var permissions: [String: String]

    public init(repositories: [String]? = nil, permissions: [String: String]) {
        self.repositories = repositories
        self.permissions = permissions
    }

    /// The agent's git token: push and fetch on one repository, nothing else.
    public static func gitPush(repository: String) -> InstallationTokenScope {
        InstallationTokenScope(repositories: [repository], permissions: ["contents": "write"])
    }

    /// A review's git token: fetch on one repository, no push (a review only reads).
    public static func gitRead(repository: String) -> InstallationTokenScope {
        InstallationTokenScope(repositories: [repository], permissions: ["contents": "read"])
    }

    /// The publisher's token for one task's repository: Check Runs, comments and draft PRs,
    /// read-only contents, nothing else (a leaked one reaches no other repository).
    public static func publication(repository: String) -> InstallationTokenScope {
        InstallationTokenScope(repositories: [repository],
                               permissions: ["checks": "write", "issues": "write", "pull_requests": "write", "contents": "read"])
    }

    /// The JSON body of `POST /app/installations/{id}/access_tokens`.
    var requestBody: JSONValue {
        var body: [String: JSONValue] = [:]
        if let repositories { body["repositories"] = .array(repositories.map { .string($0) }) }
        if !permissions.isEmpty { body["permissions"] = .object(permissions.mapValues { .string($0) }) }
        return .object(body)
    }

    public var description: String {
        let perms = permissions.keys.sorted().map { "\($0):\(permissions[$0]!)" }.joined(separator: ",")
        return "repositories=\(repositories.map { $0.joined(separator: ",") } ?? "all") permissions=\(perms.isEmpty ? "all" : perms)"
    }
}

/// An installation access token (`ghs_…`) and what GitHub says it grants.
///
/// The token is a secret: `description`, `debugDescription` and reflection show its
/// scope and expiry only.
public struct InstallationToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret itself. Hand it to git (via askpass) or put it in an `Authorization`
    /// header; never log it.
    public let token: String
    public let installationID: Int64
    public let expiresAt: Date
    /// Permissions as granted (GitHub's answer, not the request).
    public let permissions: [String: String]
    /// Repository names the token is limited to; nil when it covers all of the installation's.
    public let repositories: [String]?

    public init(token: String, installationID: Int64, expiresAt: Date, permissions: [String: String],
                repositories: [String]?) {
        self.token = token
        self.installationID = installationID
        self.expiresAt = expiresAt
        self.permissions = permissions
        self.repositories = repositories
    }

    /// Whether the token is still good for at least `margin` seconds at `now`.
    public func isUsable(at now: Date, margin: TimeInterval) -> Bool {
        expiresAt.timeIntervalSince(now) > margin
    }

    public var description: String {
        let perms = permissions.keys.sorted().map { "\($0):\(permissions[$0]!)" }.joined(separator: ",")
        return "InstallationToken(installation: \(installationID), repositories: "
            + "\(repositories.map { $0.joined(separator: ",") } ?? "all"), permissions: \(perms), "
            + "expires: \(ISO8601DateFormatter().string(from: expiresAt)), token: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["installationID": installationID, "expiresAt": expiresAt,
                                "permissions": permissions, "repositories": repositories as Any,
                                "token": "<redacted>"])
    }
}

/// Caches one publication token per installation and repository until `margin` seconds
/// before it expires, and makes concurrent callers for the same key share one mint.
actor InstallationTokenCache {
    struct Key: Hashable, Sendable {
        var installationID: Int64
        /// The repository name, lowercased (GitHub's names are case-insensitive).
        var repository: String
        init(installationID: Int64, repository: String) {
            self.installationID = installationID
            self.repository = repository.lowercased()
        }
    }

    private var tokens: [Key: InstallationToken] = [:]
    private var inFlight: [Key: Task<InstallationToken, any Error>] = [:]

    func token(_ key: Key, now: Date, margin: TimeInterval,
               mint: @escaping @Sendable () async throws -> InstallationToken) async throws -> InstallationToken {
        if let cached = tokens[key], cached.isUsable(at: now, margin: margin) { return cached }
        if let pending = inFlight[key] { return try await pending.value }
        let task = Task { try await mint() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let fresh = try await task.value
        tokens[key] = fresh
        return fresh
    }

    /// Drops the cached token for `key` (when it is `token`, or unconditionally when
    /// `token` is nil): GitHub said 401, so it was revoked or the clock is off.
    func invalidate(_ key: Key, token: String? = nil) {
        if let token, tokens[key]?.token != token { return }
        tokens[key] = nil
    }
}
