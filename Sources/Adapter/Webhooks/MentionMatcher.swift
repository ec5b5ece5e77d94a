/// Finds `@handle` mentions in comment text, the way a reader would see them.
///
/// A mention is `@` + the handle (case-insensitive), optionally followed by a literal
/// `[bot]`, where
/// - the `@` starts the text or follows a character that cannot end a word: whitespace
///   or punctuation, but not a letter, digit, `_`, `-`, `/`, `@` or `` ` `` — so
///   `me@cody.dev` is an e-mail address, not a mention;
/// - what follows the handle (or `[bot]`) cannot continue a GitHub login or a team
///   name: end of text, whitespace or punctuation such as `. , ! ? : ; ) ] '`, but not a
///   letter, digit, `-`, `_`, `/` or `@` — so `@codyx`, `@cody-2`, `@cody_x` and
///   `@cody/team` are not mentions of `cody`, while `@cody.` at a sentence end is.
///
/// Only prose counts, as GitHub notifies only those: a mention inside a code span, a fenced
/// or indented code block, or a block quote is not one (`MarkdownProse`).
public enum MentionMatcher {
    /// True when `body` mentions `handle` (given with or without `@` / trailing `[bot]`).
    public static func mentions(body: String, handle: String) -> Bool {
        let h = Array(GitHubLogin.normalized(handle).unicodeScalars)
        guard !h.isEmpty else { return false }
        let text = Array(MarkdownProse.visible(body).unicodeScalars)
        let bot = Array("[bot]".unicodeScalars)
        var i = 0
        while i < text.count {
            defer { i += 1 }
            guard text[i] == "@" else { continue }
            if i > 0, !canPrecede(text[i - 1]) { continue }
            guard let afterHandle = matchCaseInsensitive(h, in: text, at: i + 1) else { continue }
            var end = afterHandle
            if let afterBot = matchCaseInsensitive(bot, in: text, at: end) { end = afterBot }
            if end == text.count || canFollow(text[end]) { return true }
        }
        return false
    }

    /// The index just past `needle` if `text` has it (ASCII case-insensitively) at `start`.
    private static func matchCaseInsensitive(_ needle: [Unicode.Scalar], in text: [Unicode.Scalar], at start: Int) -> Int? {
        guard start + needle.count <= text.count else { return nil }
        for (k, n) in needle.enumerated() where lower(text[start + k]) != lower(n) { return nil }
        return start + needle.count
    }

    private static func lower(_ s: Unicode.Scalar) -> Unicode.Scalar {
        if s.value >= 0x41 && s.value <= 0x5A { return Unicode.Scalar(s.value + 0x20)! }
        return s
    }

    private static func isWordChar(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic || s.properties.numericType != nil || s == "_" || s == "-"
    }

    private static func canPrecede(_ s: Unicode.Scalar) -> Bool {
        !(isWordChar(s) || s == "/" || s == "@" || s == "`")
    }

    private static func canFollow(_ s: Unicode.Scalar) -> Bool {
        !(isWordChar(s) || s == "/" || s == "@")
    }
}
