/// The part of a GitHub comment a reader sees as prose: what GitHub notifies mentions in.
///
/// GitHub does not notify `@someone` inside code or quotes, so neither do we start work for
/// it. Blanked out (replaced by spaces, keeping the line structure) are
/// - fenced code blocks: from a line of three or more backticks or tildes (indented at most
///   three spaces) to the closing fence of the same character and at least that length, or
///   the end of the comment;
/// - indented code blocks: lines indented four spaces or a tab, after a blank line or
///   another such line (an indented line right after prose continues the paragraph);
/// - block quotes: lines starting with `>` (indented at most three spaces);
/// - code spans: from a run of backticks to the next run of the same length on the line.
///
/// An approximation of CommonMark's block rules that errs on the side of "not prose" only
/// where GitHub does too; list items' indented continuation lines count as prose.
enum MarkdownProse {
    static func visible(_ body: String) -> String {
        var out: [String] = []
        var fence: (char: Character, length: Int)?
        var previousBlank = true
        var inIndentedCode = false
        for raw in body.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            let blank = line.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
            if let f = fence {
                if let close = fenceMarker(line), close.char == f.char, close.length >= f.length, close.rest.allSatisfy(\.isWhitespace) {
                    fence = nil
                }
                out.append(blanked(line))
                continue
            }
            if let open = fenceMarker(line), !(open.char == "`" && open.rest.contains("`")) {
                fence = (open.char, open.length)
                out.append(blanked(line))
                previousBlank = false
                inIndentedCode = false
                continue
            }
            let indentedCode = !blank && isIndentedFourOrMore(line) && (previousBlank || inIndentedCode)
            inIndentedCode = indentedCode || (inIndentedCode && blank)
            if indentedCode || isBlockQuote(line) {
                out.append(blanked(line))
            } else {
                out.append(withoutCodeSpans(line))
            }
            previousBlank = blank
        }
        return out.joined(separator: "\n")
    }

    /// A fence opener/closer: the fence character, its run length (≥ 3), what follows.
    private static func fenceMarker(_ line: String) -> (char: Character, length: Int, rest: Substring)? {
        var s = Substring(line)
        var spaces = 0
        while s.first == " " && spaces < 4 { s = s.dropFirst(); spaces += 1 }
        guard spaces <= 3, let c = s.first, c == "`" || c == "~" else { return nil }
        let run = s.prefix { $0 == c }.count
        guard run >= 3 else { return nil }
        return (c, run, s.dropFirst(run))
    }

    private static func isIndentedFourOrMore(_ line: String) -> Bool {
        var width = 0
        for c in line {
            if c == " " { width += 1 } else if c == "\t" { width += 4 } else { break }
            if width >= 4 { return true }
        }
        return false
    }

    private static func isBlockQuote(_ line: String) -> Bool {
        let trimmed = line.drop { $0 == " " }
        return line.count - trimmed.count <= 3 && trimmed.first == ">"
    }

    private static func blanked(_ line: String) -> String { String(repeating: " ", count: line.count) }

    /// The line with every code span (backtick run … same-length run) blanked. An opening
    /// run without its closer is literal text, as in CommonMark.
    private static func withoutCodeSpans(_ line: String) -> String {
        let chars = Array(line)
        var out = chars
        var i = 0
        while i < chars.count {
            guard chars[i] == "`" else { i += 1; continue }
            var run = 0
            while i + run < chars.count && chars[i + run] == "`" { run += 1 }
            // Find the closing run of exactly `run` backticks.
            var j = i + run
            var closed: Int?
            while j < chars.count {
                if chars[j] == "`" {
                    var r = 0
                    while j + r < chars.count && chars[j + r] == "`" { r += 1 }
                    if r == run { closed = j; break }
                    j += r
                } else {
                    j += 1
                }
            }
            guard let end = closed else { i += run; continue }
            for k in i..<(end + run) { out[k] = " " }
            i = end + run
        }
        return String(out)
    }
}
