import Foundation

/// HTML escaping for everything the dashboard shows that it did not write itself: task
/// fields from GitHub (titles, bodies, logins, branch names), a runtime's result and
/// output, error texts. One function for text and attribute values (quoted with `"`),
/// so no call site has to choose.
enum HTML {
    /// `&`, `<`, `>`, `"` and `'` as character references; other characters as they are
    /// (the page is UTF-8). NUL, which browsers treat inconsistently, becomes U+FFFD.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A query-string or path component: everything but unreserved characters
    /// percent-encoded (then escaped for the attribute it goes in by the caller).
    static func urlComponent(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// `HTML.escape`, short for page templates.
func h(_ text: String) -> String { HTML.escape(text) }
