import Foundation

/// Mints the git token for one attempt (the GitHub App provider lives in the
/// Adapter; `run-task` reads a file). Called right before each attempt.
public protocol GitTokenProvider: Sendable {
    func gitToken(for task: TaskSpec) async throws -> String
    /// Ends `token` (minted by `gitToken(for: task)`) when its attempt is over, so a token
    /// the runtime copied somewhere is worth nothing afterwards. Best effort: a failure
    /// is logged by the caller, and the token still expires on its own.
    func revokeGitToken(_ token: String, for task: TaskSpec) async throws
}

extension GitTokenProvider {
    /// Tokens that cannot be revoked (a file's) are left alone.
    public func revokeGitToken(_ token: String, for task: TaskSpec) async throws {}
}

/// Reads the token from a file each time it is asked (so a rotated file is honoured).
public struct FileTokenProvider: GitTokenProvider {
    public let path: String
    public init(path: String) { self.path = path }

    public func gitToken(for task: TaskSpec) async throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AskpassError("git token file \(path) is not readable")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains("\n") else { throw AskpassError("git token file \(path) is empty or has several lines") }
        return token
    }
}
