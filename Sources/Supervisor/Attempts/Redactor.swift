import Foundation

/// Output of `Redactor.redact`: redacted bytes, at most the cap, with the truncation
/// marked. Only values of this type are accepted by `TaskStore.finishAttempt`, so
/// unredacted output cannot be stored by accident.
public struct RedactedOutput: Sendable, Equatable {
    /// The redacted (tail of the) output, marker included when truncated.
    public let data: Data
    /// True when the redacted output was longer than the cap and its head was dropped.
    public let truncated: Bool
    /// Size of the input before redaction and truncation.
    public let originalByteCount: Int

    /// Empty output.
    public static let empty = RedactedOutput(data: Data(), truncated: false, originalByteCount: 0)

    /// Rebuilds a value read back from the store (already redacted when it was stored).
    init(data: Data, truncated: Bool, originalByteCount: Int) {
        self.data = data; self.truncated = truncated; self.originalByteCount = originalByteCount
    }

    /// Lossy UTF-8 text, for display.
    public var text: String { String(decoding: data, as: UTF8.self) }
}

/// Removes secrets from agent output before it is kept or shown.
///
/// Replaced with `[REDACTED]`, on raw bytes (invalid UTF-8 is fine):
/// - every occurrence of each live secret given at init (and the base64 of
///   `x-access-token:<secret>`, which is what an HTTP Basic header would carry);
/// - GitHub token shapes: `ghs_`, `ghp_`, `gho_`, `ghu_`, `ghr_` or `github_pat_`
///   followed by 20 or more of `[A-Za-z0-9_]` (the whole token, prefix included);
/// - `x-access-token:<anything but '@' and whitespace>@` → `x-access-token:[REDACTED]@`
///   (prefix matched case-insensitively).
///
/// Redaction happens on the whole input first and the cap (default 1 MiB, the tail is
/// kept) is applied afterwards, so a cut can never expose part of a secret.
public struct Redactor: Sendable {
    public static let marker = "[REDACTED]"
    public static let defaultCap = 1 << 20

    /// Longest first (`StreamingRedactor` follows the same order).
    let secrets: [[UInt8]]
    /// Bytes kept per stream.
    public let cap: Int

    public init(secrets: [String] = [], cap: Int = Redactor.defaultCap) {
        var all = Set<[UInt8]>()
        for s in secrets where !s.isEmpty {
            all.insert(Array(s.utf8))
            all.insert(Array(Data("x-access-token:\(s)".utf8).base64EncodedString().utf8))
        }
        // Longest first, so a secret containing another is replaced whole.
        self.secrets = all.sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        self.cap = max(64, cap)
    }

    /// Redacts `data` and keeps at most `cap` bytes of it (the tail).
    public func redact(_ data: Data) -> RedactedOutput {
        let out = redactAll([UInt8](data))
        guard out.count > cap else {
            return RedactedOutput(data: Data(out), truncated: false, originalByteCount: data.count)
        }
        let header = Array("[coven: output truncated, \(out.count) redacted bytes, kept the last ".utf8)
        let trailer = Array(" bytes]\n".utf8)
        var keep = cap - header.count - trailer.count - 8
        var start = out.count - keep
        // Don't start in the middle of a UTF-8 sequence.
        var skipped = 0
        while start < out.count, skipped < 3, out[start] & 0xC0 == 0x80 { start += 1; skipped += 1 }
        keep = out.count - start
        var result = header + Array(String(keep).utf8) + trailer
        result.append(contentsOf: out[start...])
        return RedactedOutput(data: Data(result), truncated: true, originalByteCount: data.count)
    }

    /// Redacts a string (no cap).
    public func redact(_ string: String) -> String {
        String(decoding: redactAll(Array(string.utf8)), as: UTF8.self)
    }

    /// Redacts every text of a result (no cap): summary, PR body, branch, commit messages
    /// and SHAs, file names. Contract checks happened before; a redacted value stays a string.
    public func redact(_ result: ResultEnvelope) -> ResultEnvelope {
        var r = result
        r.branch = r.branch.map(redact)
        r.commits = r.commits.map { ResultEnvelope.Commit(sha: redact($0.sha), message: redact($0.message)) }
        r.filesChanged = r.filesChanged.map(redact)
        r.summary = redact(r.summary)
        r.prBody = redact(r.prBody)
        if var review = r.review {
            review.reviewedFiles = review.reviewedFiles.map(redact)
            review.supportingFiles = review.supportingFiles.map(redact)
            review.findings = review.findings.map { f in
                var f = f
                f.file = redact(f.file); f.title = redact(f.title); f.body = redact(f.body)
                f.recommendation = f.recommendation.map(redact)
                return f
            }
            review.testsRun = review.testsRun.map { t in
                var t = t
                t.command = redact(t.command); t.outputSummary = t.outputSummary.map(redact)
                return t
            }
            review.noFindingsReason = review.noFindingsReason.map(redact)
            review.limitations = review.limitations.map(redact)
            r.review = review
        }
        return r
    }

    /// Redacts only the token shapes (no live secrets, no cap): for reasons and notes.
    public static func redactShapes(_ string: String) -> String {
        Redactor().redact(string)
    }

    // MARK: - Matching

    static let markerBytes = Array(marker.utf8)
    static let githubPat = Array("github_pat_".utf8)
    static let accessToken = Array("x-access-token:".utf8)
    static let minTokenBody = 20

    static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
    }

    func redactAll(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        let n = b.count
        outer: while i < n {
            let c = b[i]
            for s in secrets where s[0] == c && n - i >= s.count {
                if b[i..<(i + s.count)].elementsEqual(s) {
                    out.append(contentsOf: Redactor.markerBytes)
                    i += s.count
                    continue outer
                }
            }
            if c == UInt8(ascii: "g"), let end = Redactor.tokenEnd(b, at: i) {
                out.append(contentsOf: Redactor.markerBytes)
                i = end
                continue
            }
            if c == UInt8(ascii: "x") || c == UInt8(ascii: "X"), let (prefixEnd, at) = Redactor.accessTokenURL(b, at: i) {
                out.append(contentsOf: b[i..<prefixEnd])
                out.append(contentsOf: Redactor.markerBytes)
                out.append(UInt8(ascii: "@"))
                i = at + 1
                continue
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// End of a GitHub token starting at `i`, if one does.
    private static func tokenEnd(_ b: [UInt8], at i: Int) -> Int? {
        let n = b.count
        var bodyStart: Int?
        if i + 4 <= n, b[i + 1] == UInt8(ascii: "h"), b[i + 3] == UInt8(ascii: "_"),
           [UInt8(ascii: "s"), UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "r")].contains(b[i + 2]) {
            bodyStart = i + 4
        } else if i + githubPat.count <= n, b[i..<(i + githubPat.count)].elementsEqual(githubPat) {
            bodyStart = i + githubPat.count
        }
        guard let start = bodyStart else { return nil }
        var j = start
        while j < n, isTokenByte(b[j]) { j += 1 }
        return j - start >= minTokenBody ? j : nil
    }

    /// For `x-access-token:<secret>@` at `i`: the end of the prefix and the index of '@'.
    private static func accessTokenURL(_ b: [UInt8], at i: Int) -> (Int, Int)? {
        let n = b.count
        let p = accessToken
        guard i + p.count < n else { return nil }
        for k in 0..<p.count {
            var x = b[i + k]
            if x >= 0x41 && x <= 0x5A { x += 0x20 }
            if x != p[k] { return nil }
        }
        var j = i + p.count
        while j < n, b[j] != UInt8(ascii: "@"), !isSpace(b[j]) { j += 1 }
        guard j < n, b[j] == UInt8(ascii: "@"), j > i + p.count else { return nil }
        return (i + p.count, j)
    }
}
