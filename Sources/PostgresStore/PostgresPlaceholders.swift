/// The store's SQL is written once with SQLite's placeholders, `?` (the next number)
/// and `?N` (number N); PostgreSQL only knows `$N`. This turns one into the other,
/// leaving alone what only looks like a placeholder: string literals ('…', E'…'),
/// quoted identifiers ("…"), dollar-quoted bodies ($tag$…$tag$) and comments.
package enum PostgresPlaceholders {
    /// `sql` with every `?` / `?N` outside literals and comments written as `$N`.
    /// A bare `?` takes the number after the largest one so far, as SQLite numbers it.
    package static func rewrite(_ sql: String) -> String {
        let s = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.count + 8)
        var largest = 0
        var i = 0

        // Copies s[i..<end] verbatim and moves on.
        func copy(to end: Int) {
            out.append(contentsOf: s[i..<min(end, s.count)])
            i = min(end, s.count)
        }
        // The index after the closing `quote` of a literal opened at `start`; a doubled
        // quote is an escaped one, and so is a backslash-quote in an E'…' string.
        func endOfQuoted(_ start: Int, _ quote: UInt8, backslashes: Bool) -> Int {
            var j = start + 1
            while j < s.count {
                if backslashes && s[j] == UInt8(ascii: "\\") { j += 2; continue }
                if s[j] == quote {
                    if j + 1 < s.count && s[j + 1] == quote { j += 2; continue }
                    return j + 1
                }
                j += 1
            }
            return s.count
        }

        while i < s.count {
            let c = s[i]
            switch c {
            case UInt8(ascii: "'"):
                // E'…' (and e'…') strings take backslash escapes; plain ones do not.
                let escaped = i > 0 && (s[i - 1] == UInt8(ascii: "E") || s[i - 1] == UInt8(ascii: "e"))
                    && (i < 2 || !isIdentifierByte(s[i - 2]))
                copy(to: endOfQuoted(i, c, backslashes: escaped))
            case UInt8(ascii: "\""):
                copy(to: endOfQuoted(i, c, backslashes: false))
            case UInt8(ascii: "-") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "-"):
                var j = i + 2
                while j < s.count && s[j] != UInt8(ascii: "\n") { j += 1 }
                copy(to: j)
            case UInt8(ascii: "/") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "*"):
                // Block comments nest in PostgreSQL.
                var depth = 1, j = i + 2
                while j < s.count && depth > 0 {
                    if s[j] == UInt8(ascii: "/") && j + 1 < s.count && s[j + 1] == UInt8(ascii: "*") { depth += 1; j += 2 }
                    else if s[j] == UInt8(ascii: "*") && j + 1 < s.count && s[j + 1] == UInt8(ascii: "/") { depth -= 1; j += 2 }
                    else { j += 1 }
                }
                copy(to: j)
            case UInt8(ascii: "$") where i == 0 || !isIdentifierByte(s[i - 1]):
                copy(to: endOfDollarQuoted(s, i) ?? i + 1)
            case UInt8(ascii: "?"):
                var j = i + 1, n = 0
                while j < s.count, s[j] >= UInt8(ascii: "0"), s[j] <= UInt8(ascii: "9"), n < 1_000_000 {
                    n = n * 10 + Int(s[j] - UInt8(ascii: "0")); j += 1
                }
                if j == i + 1 { largest += 1; n = largest } else { largest = max(largest, n) }
                out.append(UInt8(ascii: "$"))
                out.append(contentsOf: String(n).utf8)
                i = j
            default:
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b >= 0x80
    }

    /// The index after a $tag$…$tag$ body opened at `start`, or nil when `$` opens none
    /// (a `$1` parameter already written in PostgreSQL's form, say).
    private static func endOfDollarQuoted(_ s: [UInt8], _ start: Int) -> Int? {
        var j = start + 1
        while j < s.count, s[j] != UInt8(ascii: "$") {
            guard isIdentifierByte(s[j]), !(j == start + 1 && s[j] >= UInt8(ascii: "0") && s[j] <= UInt8(ascii: "9")) else { return nil }
            j += 1
        }
        guard j < s.count else { return nil }
        let tag = s[start...j]
        var k = j + 1
        while k + tag.count <= s.count {
            if s[k] == UInt8(ascii: "$") && s[k..<(k + tag.count)].elementsEqual(tag) { return k + tag.count }
            k += 1
        }
        return s.count
    }
}

/// Rewritten SQL by its text: the store runs the same few statements over and over.
/// Bounded so that SQL built at run time (IN lists of varying length) cannot grow it
/// without end; when full it starts over, which costs one rewrite per statement.
struct PlaceholderCache {
    private var entries: [String: String] = [:]
    let capacity: Int

    init(capacity: Int = 512) { self.capacity = capacity }

    mutating func postgres(_ sql: String) -> String {
        if let hit = entries[sql] { return hit }
        let rewritten = PostgresPlaceholders.rewrite(sql)
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[sql] = rewritten
        return rewritten
    }
}
