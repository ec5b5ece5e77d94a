import Foundation
import HTTP
import Synchronization

/// The dashboard's logins, kept in memory (a restart logs everyone out): a random session
/// id in an `HttpOnly`, `SameSite=Strict` cookie, with an expiry and a CSRF token that
/// every form of the session carries. The API token is asked for once, at login; it is
/// never put in a cookie, a page or a URL.
final class DashboardSessions: Sendable {
    static let cookieName = "coven_session"
    /// The pre-login CSRF token (double submit: cookie and form field must agree), so the
    /// login form cannot be posted from another site either.
    static let loginCookieName = "coven_login"
    /// Logins kept at most; the oldest goes first past it (bounded memory).
    static let maxSessions = 1000

    struct Session: Sendable {
        var csrf: String
        var expires: Date
        var created: Date
    }

    private let sessions = Mutex<[String: Session]>([:])
    let lifetime: TimeInterval
    private let clock: @Sendable () -> Date

    init(lifetime: TimeInterval, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.lifetime = lifetime
        self.clock = clock
    }

    /// 32 random bytes as hex.
    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
    }

    /// A new login: its id and CSRF token.
    func create() -> (id: String, session: Session) {
        let now = clock()
        let id = Self.randomToken()
        let session = Session(csrf: Self.randomToken(), expires: now.addingTimeInterval(lifetime), created: now)
        sessions.withLock { map in
            map = map.filter { $0.value.expires > now }
            if map.count >= Self.maxSessions, let oldest = map.min(by: { $0.value.created < $1.value.created })?.key {
                map[oldest] = nil
            }
            map[id] = session
        }
        return (id, session)
    }

    /// The live session of `request`'s cookie, if any.
    func session(for request: HTTPRequest) -> (id: String, session: Session)? {
        guard let id = Self.cookie(Self.cookieName, in: request), !id.isEmpty else { return nil }
        let now = clock()
        return sessions.withLock { map -> (id: String, session: Session)? in
            guard let s = map[id] else { return nil }
            guard s.expires > now else { map[id] = nil; return nil }
            return (id, s)
        }
    }

    func end(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    var count: Int { sessions.withLock { $0.count } }

    /// `Set-Cookie` for a session: script cannot read it, no other site's request carries
    /// it; `Secure` when the request came through HTTPS (a TLS-terminating proxy says so).
    func cookieHeader(id: String, secure: Bool) -> String {
        "\(Self.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(lifetime))" + (secure ? "; Secure" : "")
    }

    static func clearingCookie(_ name: String) -> String {
        "\(name)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    }

    static func loginCookieHeader(_ token: String, secure: Bool) -> String {
        "\(loginCookieName)=\(token); Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600" + (secure ? "; Secure" : "")
    }

    /// A cookie's value from the `Cookie` header(s).
    static func cookie(_ name: String, in request: HTTPRequest) -> String? {
        for header in request.headers.values(for: "Cookie") {
            for pair in header.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name {
                    return kv[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    static func isSecure(_ request: HTTPRequest) -> Bool {
        request.headers["X-Forwarded-Proto"]?.lowercased() == "https"
    }
}

/// An `application/x-www-form-urlencoded` body (what HTML forms post).
struct FormBody {
    let fields: [String: String]

    init(_ request: HTTPRequest) {
        var out: [String: String] = [:]
        let text = String(decoding: request.body, as: UTF8.self)
        for part in text.split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = HTTPRequest.percentDecode(String(kv[0]), plusAsSpace: true) else { continue }
            let value = kv.count > 1 ? HTTPRequest.percentDecode(String(kv[1]), plusAsSpace: true) : ""
            if let value, out[name] == nil { out[name] = value }
        }
        fields = out
    }

    subscript(_ name: String) -> String? { fields[name] }
}
