import Foundation
import Supervisor

/// The text of the bot's answers to maintainers' commands. Each starts with a hidden
/// marker naming the command's comment, by which the responder finds it was answered
/// already (a second delivery of the comment is not answered twice).
enum CommandReplies {
    static func marker(_ command: MaintainerCommand) -> String {
        "<!-- coven-supervisor:reply=\(safe(command.replyKey)) -->"
    }

    static func body(_ command: MaintainerCommand, _ text: String) -> String {
        marker(command) + "\n" + text
    }

    static func invocation(_ c: MaintainerCommand, _ verb: String) -> String { "`@\(c.familiar.handle) \(verb)`" }

    static func verbList(_ c: MaintainerCommand) -> String {
        MaintainerCommand.Verb.allCases.map { v in
            "- \(invocation(c, v.rawValue)): \(v.summary)" + (v.needsWriteAccess ? "" : " (anyone)")
        }.joined(separator: "\n")
    }

    static func help(_ c: MaintainerCommand) -> String {
        "**\(c.familiar.displayName)** takes these commands as the first words of a comment:\n\n\(verbList(c))\n\n"
            + "All but `status` and `help` need write, maintain or admin access to the repository."
    }

    static func unknown(_ c: MaintainerCommand) -> String {
        "I don't know the command `\(safe(c.word))`. **\(c.familiar.displayName)** takes these:\n\n\(verbList(c))"
    }

    static func refused(_ c: MaintainerCommand, _ p: CollaboratorPermission) -> String {
        let verb = c.verb?.rawValue ?? c.word
        return "Sorry @\(c.author), \(invocation(c, verb)) needs write, maintain or admin access to "
            + "\(c.repo.owner)/\(c.repo.name), and you have \(p.displayName == "none" ? "no" : "`\(safe(p.displayName))`") access. "
            + "A maintainer can run it for you."
    }

    static func target(_ c: MaintainerCommand) -> String { c.isPullRequest ? "this pull request" : "this issue" }

    static func state(_ r: TaskRecord) -> String {
        let id = "`\(safe(r.id))` (\(r.spec.kind.name))"
        switch r.state {
        case .queued: return "Task \(id) is queued" + (r.heldBy.map { ", waiting for the installation's limit: \($0)" } ?? "") + "."
        case .running: return "Task \(id) is running (attempt \(r.attemptCount))."
        case .completed: return "Task \(id) completed (\(r.disposition?.rawValue ?? "success"))."
        case .failed, .cancelled:
            return "Task \(id) \(r.state.rawValue)" + (r.finalReason.map { ": \(cut($0))" } ?? "") + "."
        }
    }

    /// Text from a store or a runtime: token shapes redacted, HTML comments defused, short.
    static func cut(_ s: String) -> String {
        let clean = Redactor.redactShapes(s).replacingOccurrences(of: "<!--", with: "<!​--")
        return clean.count > 300 ? String(clean.prefix(300)) + "…" : clean
    }

    static func safe(_ s: String) -> String { String(s.filter { $0.isLetter || $0.isNumber || "_-.".contains($0) }.prefix(80)) }
}
