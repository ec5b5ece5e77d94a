import Foundation

/// `Redactor` for output that arrives in pieces (a live attempt's output file, read as it
/// grows): what it emits for the pieces, followed by `finish()`, is exactly what
/// `Redactor.redactAll` gives for the whole (with one exception below), whatever the
/// split, so a secret cut in two by a read is still redacted.
///
/// How: the same left-to-right scan, stopped at the first position whose verdict depends
/// on bytes not read yet (a possible start of a secret, of a token shape or of an
/// `x-access-token:` URL that reaches the end of what is there). Those bytes are held back
/// until the next piece decides. At most `maxHold` bytes are held: a token shape that
/// long is certainly redacted (its marker is emitted and the rest of the token swallowed,
/// as the whole scan would), and an `x-access-token:` prefix followed by that many bytes
/// with neither `@` nor whitespace is redacted up to its `@` (the exception: should
/// whitespace come first, the whole scan would have kept them; this one errs on the safe
/// side).
public struct StreamingRedactor: Sendable {
    public static let maxHold = 64 * 1024

    private let redactor: Redactor
    private var pending: [UInt8] = []
    /// Inside a token shape already replaced by the marker: its remaining bytes are dropped.
    private var skippingToken = false
    /// Inside an `x-access-token:` credential already replaced: dropped up to its `@`.
    private var skippingCredential = false

    public init(_ redactor: Redactor) { self.redactor = redactor }

    /// Bytes held back, waiting for what follows.
    public var heldBack: Int { pending.count }

    /// Redacts what can be decided of the output so far (`bytes` appended).
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [UInt8] {
        pending.append(contentsOf: bytes)
        var out = scan(final: false)
        if pending.count > Self.maxHold { out += forceHeld() }
        return out
    }

    /// The output ended: redacts the bytes held back as the end of the whole.
    public mutating func finish() -> [UInt8] {
        let out = scan(final: true)
        pending = []
        return out
    }

    private enum Verdict {
        case literal
        case replace(end: Int, with: [UInt8])
        case undecided(Kind)
    }

    private enum Kind { case secret, token, credential }

    /// Emits `pending` up to the first undecided position and keeps the rest.
    private mutating func scan(final: Bool) -> [UInt8] {
        let b = pending
        let n = b.count
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var i = 0
        scanning: while i < n {
            if skippingToken {
                if Redactor.isTokenByte(b[i]) { i += 1; continue }
                skippingToken = false
            }
            if skippingCredential {
                if b[i] == UInt8(ascii: "@") {
                    out.append(b[i]); i += 1; skippingCredential = false; continue
                }
                if !Redactor.isSpace(b[i]) { i += 1; continue }
                skippingCredential = false
            }
            switch verdict(b, i, final: final) {
            case .literal:
                out.append(b[i])
                i += 1
            case .replace(let end, let with):
                out.append(contentsOf: with)
                i = end
            case .undecided:
                break scanning
            }
        }
        pending = Array(b[i...])
        return out
    }

    /// `pending` grew past `maxHold` while undecided at its start: decide on the safe side.
    private mutating func forceHeld() -> [UInt8] {
        guard case .undecided(let kind) = verdict(pending, 0, final: false) else { return [] }
        var out: [UInt8] = []
        switch kind {
        case .token:
            out = Redactor.markerBytes
            skippingToken = true
        case .credential:
            out = Array(pending[0..<Redactor.accessToken.count]) + Redactor.markerBytes
            skippingCredential = true
        case .secret:
            out = Redactor.markerBytes
        }
        pending = []
        return out
    }

    /// What the whole scan does at `i`, or `.undecided` when that depends on bytes after
    /// the end of `b` (never when `final`). The order of the checks is `redactAll`'s.
    private func verdict(_ b: [UInt8], _ i: Int, final: Bool) -> Verdict {
        let n = b.count
        let c = b[i]
        for s in redactor.secrets where s[0] == c {
            if n - i >= s.count {
                if b[i..<(i + s.count)].elementsEqual(s) { return .replace(end: i + s.count, with: Redactor.markerBytes) }
            } else if !final, b[i..<n].elementsEqual(s[0..<(n - i)]) {
                return .undecided(.secret)
            }
        }
        if c == UInt8(ascii: "g") {
            switch tokenVerdict(b, i, final: final) {
            case .literal: break
            case let v: return v
            }
        }
        if c == UInt8(ascii: "x") || c == UInt8(ascii: "X") {
            return credentialVerdict(b, i, final: final)
        }
        return .literal
    }

    private func tokenVerdict(_ b: [UInt8], _ i: Int, final: Bool) -> Verdict {
        let n = b.count
        let kinds: [UInt8] = [UInt8(ascii: "s"), UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "r")]
        var bodyStart: Int?
        if i + 4 <= n, b[i + 1] == UInt8(ascii: "h"), b[i + 3] == UInt8(ascii: "_"), kinds.contains(b[i + 2]) {
            bodyStart = i + 4
        } else if i + Redactor.githubPat.count <= n, b[i..<(i + Redactor.githubPat.count)].elementsEqual(Redactor.githubPat) {
            bodyStart = i + Redactor.githubPat.count
        } else if !final {
            // Too few bytes to tell: could they still become `gh?_` or `github_pat_`?
            let have = n - i
            let shortPrefix = have < 4 && (have < 2 || b[i + 1] == UInt8(ascii: "h")) && (have < 3 || kinds.contains(b[i + 2]))
            let patPrefix = have < Redactor.githubPat.count && b[i..<n].elementsEqual(Redactor.githubPat[0..<have])
            if shortPrefix || patPrefix { return .undecided(.token) }
        }
        guard let start = bodyStart else { return .literal }
        var j = start
        while j < n, Redactor.isTokenByte(b[j]) { j += 1 }
        if j == n && !final { return .undecided(.token) }
        return j - start >= Redactor.minTokenBody ? .replace(end: j, with: Redactor.markerBytes) : .literal
    }

    private func credentialVerdict(_ b: [UInt8], _ i: Int, final: Bool) -> Verdict {
        let n = b.count
        let p = Redactor.accessToken
        let have = min(n - i, p.count)
        for k in 0..<have {
            var x = b[i + k]
            if x >= 0x41 && x <= 0x5A { x += 0x20 }
            if x != p[k] { return .literal }
        }
        if n - i <= p.count { return final ? .literal : .undecided(.credential) }
        var j = i + p.count
        while j < n, b[j] != UInt8(ascii: "@"), !Redactor.isSpace(b[j]) { j += 1 }
        if j == n { return final ? .literal : .undecided(.credential) }
        guard b[j] == UInt8(ascii: "@"), j > i + p.count else { return .literal }
        return .replace(end: j + 1, with: Array(b[i..<(i + p.count)]) + Redactor.markerBytes + [UInt8(ascii: "@")])
    }
}
