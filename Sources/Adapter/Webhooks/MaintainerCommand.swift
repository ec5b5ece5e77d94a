import Foundation
import Supervisor

/// A maintainer's command: a comment whose first word is a mention of a familiar's bot
/// and whose second is a verb, `@coven-cody retry` (docs/configuration.md, "Commands").
///
/// Only prose counts, as for mentions (`MarkdownProse`): a command quoted or inside code
/// is none. A comment that is just the mention and one unknown word (`@coven-cody deploy`)
/// is a command with an unknown verb, answered with the list of verbs; a mention followed
/// by a sentence (`@coven-cody please rename it`) is an ordinary mention.
public struct MaintainerCommand: Sendable, Equatable {
    public enum Verb: String, Sendable, Equatable, CaseIterable {
        case review, fix, retry, cancel, status, help

        /// Every verb but `status` and `help` changes something: it needs write, maintain
        /// or admin permission on the repository.
        public var needsWriteAccess: Bool { self != .status && self != .help }

        /// What it does, for `help`.
        public var summary: String {
            switch self {
            case .review: return "review this pull request"
            case .fix: return "start a task that fixes this issue (on a pull request: works on the comment's request)"
            case .retry: return "run the latest finished task here again"
            case .cancel: return "cancel the queued or running task here"
            case .status: return "say how the latest task here stands"
            case .help: return "list these commands"
            }
        }
    }

    /// The verb; nil when `word` is none of them.
    public var verb: Verb? { Verb(rawValue: word) }
    /// The second word, lowercased (at most 40 characters).
    public var word: String
    public var familiar: FamiliarConfig
    public var repo: RepoRef
    public var installationID: Int64?
    /// The issue or pull request the comment is on.
    public var number: Int
    public var isPullRequest: Bool
    public var commentID: Int64?
    /// The comment's author (whose permission is checked).
    public var author: String
    public var deliveryID: String
    /// The issue's (or pull request's) title and the issue's body, for `fix`.
    public var title: String
    public var issueBody: String
    public var commentBody: String
    /// A pull request review comment's head.
    public var headRef: String?
    public var headSHA: String?

    public init(word: String, familiar: FamiliarConfig, repo: RepoRef, installationID: Int64?, number: Int,
                isPullRequest: Bool, commentID: Int64?, author: String, deliveryID: String, title: String = "",
                issueBody: String = "", commentBody: String = "", headRef: String? = nil, headSHA: String? = nil) {
        self.word = word; self.familiar = familiar; self.repo = repo; self.installationID = installationID
        self.number = number; self.isPullRequest = isPullRequest; self.commentID = commentID; self.author = author
        self.deliveryID = deliveryID; self.title = title; self.issueBody = issueBody; self.commentBody = commentBody
        self.headRef = headRef; self.headSHA = headSHA
    }

    /// What the reply's marker is keyed by: the comment (a redelivery or a second delivery of
    /// it is answered once), else the delivery.
    public var replyKey: String { commentID.map { "comment-\($0)" } ?? "delivery-\(deliveryID)" }

    /// The command word when `body` is a command to `handle` (see the type's rules), else nil.
    public static func commandWord(body: String, handle: String) -> String? {
        let words = MarkdownProse.visible(body).split(whereSeparator: { $0.isWhitespace })
        guard words.count >= 2, isMention(words[0], handle: handle) else { return nil }
        let word = words[1].lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".,;:!?"))
        guard !word.isEmpty else { return nil }
        if Verb(rawValue: word) != nil { return word }
        // An unknown word is a command only when it stands alone: else it is a sentence.
        guard words.count == 2, word.allSatisfy({ $0.isLetter || $0 == "-" }) else { return nil }
        return String(word.prefix(40))
    }

    /// `@handle` or `@handle[bot]`, case-insensitive, optionally ending in `:` or `,`.
    private static func isMention(_ token: Substring, handle: String) -> Bool {
        var t = token.lowercased()
        guard t.hasPrefix("@") else { return false }
        if t.hasSuffix(":") || t.hasSuffix(",") { t.removeLast() }
        let h = GitHubLogin.normalized(handle)
        return !h.isEmpty && (t == "@" + h || t == "@" + h + "[bot]")
    }
}
