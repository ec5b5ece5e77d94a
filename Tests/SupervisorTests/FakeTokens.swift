import Foundation

/// GitHub-token-shaped strings made at test time: no credential-shaped literal is
/// committed, and each run redacts a value it has never seen before.
enum FakeToken {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// `prefix` followed by `length` random letters and digits (e.g. "ghp_", 36).
    static func make(_ prefix: String, _ length: Int = 36) -> String {
        prefix + String((0..<length).map { _ in alphabet.randomElement()! })
    }
}
