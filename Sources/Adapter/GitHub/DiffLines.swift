import Foundation

/// The lines of a file a review can comment on, read from its unified-diff `patch` (as
/// `GET /pulls/{n}/files` gives it): GitHub accepts an inline comment only on a line the
/// diff shows, on side RIGHT (the new version: added and context lines) or LEFT (the old
/// version: removed and context lines).
public struct DiffLines: Sendable, Equatable {
    public var right: Set<Int>
    public var left: Set<Int>

    public init(right: Set<Int> = [], left: Set<Int> = []) { self.right = right; self.left = left }

    /// Parses the hunks of `patch` (`@@ -a,b +c,d @@` headers, then ` `, `+`, `-` lines;
    /// `\ No newline at end of file` is skipped). Text before the first hunk is ignored.
    public init(patch: String) {
        var right = Set<Int>(), left = Set<Int>()
        var old = 0, new = 0, inHunk = false
        for line in patch.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@") {
                guard let (o, n) = Self.hunkStart(line) else { inHunk = false; continue }
                old = o; new = n; inHunk = true
                continue
            }
            guard inHunk, let first = line.first else { continue }
            switch first {
            case "+": right.insert(new); new += 1
            case "-": left.insert(old); old += 1
            case " ": right.insert(new); left.insert(old); new += 1; old += 1
            default: break   // "\ No newline at end of file"
            }
        }
        self.right = right
        self.left = left
    }

    /// `@@ -12,7 +12,9 @@ …` → (12, 12).
    static func hunkStart(_ header: Substring) -> (Int, Int)? {
        let parts = header.split(separator: " ")
        guard parts.count >= 3, parts[1].hasPrefix("-"), parts[2].hasPrefix("+") else { return nil }
        func start(_ s: Substring) -> Int? { s.dropFirst().split(separator: ",").first.flatMap { Int($0) } }
        guard let o = start(parts[1]), let n = start(parts[2]) else { return nil }
        return (o, n)
    }
}
