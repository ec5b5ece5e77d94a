import Foundation

/// Verification of GitHub's `X-Hub-Signature-256` header:
/// `sha256=` followed by the lowercase hex HMAC-SHA256 of the raw request body,
/// keyed with the webhook secret.
public enum WebhookSignature {
    /// The header GitHub signs with.
    public static let headerName = "X-Hub-Signature-256"
    static let prefix = "sha256="

    /// Why a delivery's signature was rejected. Descriptions never include the secret,
    /// the expected MAC or the header's value.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// No (or an empty) `X-Hub-Signature-256` header.
        case missing
        /// The header is not `sha256=` + 64 hex digits (e.g. a `sha1=` header).
        case malformed
        /// Well-formed, but not the HMAC of this body under this secret.
        case mismatch

        public var description: String {
            switch self {
            case .missing: return "missing \(WebhookSignature.headerName) header"
            case .malformed: return "malformed \(WebhookSignature.headerName) header: expected sha256= and 64 hex digits"
            case .mismatch: return "\(WebhookSignature.headerName) does not match the body"
            }
        }
    }

    /// Checks `header` against HMAC-SHA256(`secret`, `body`) in constant time.
    /// Hex digits are accepted in either case (GitHub sends lowercase). Surrounding
    /// whitespace in the header is ignored.
    public static func verify(body: Data, header: String?, secret: [UInt8]) -> Result<Void, Failure> {
        guard let raw = header?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .failure(.missing) }
        guard raw.hasPrefix(prefix) else { return .failure(.malformed) }
        let hex = raw.dropFirst(prefix.count)
        guard hex.utf8.count == HMACSHA256.byteCount * 2, let given = Hex.decode(String(hex)) else {
            return .failure(.malformed)
        }
        let expected = HMACSHA256.mac(key: secret, message: body)
        return ConstantTime.equals(expected, given) ? .success(()) : .failure(.mismatch)
    }

    /// `verify(...)` as a Bool, for callers that only need yes/no.
    public static func isValid(body: Data, header: String?, secret: [UInt8]) -> Bool {
        if case .success = verify(body: body, header: header, secret: secret) { return true }
        return false
    }

    /// The header value GitHub would send for `body` under `secret` (for tests and
    /// for clients that deliver webhooks, e.g. a replay tool).
    public static func sign(body: Data, secret: [UInt8]) -> String {
        prefix + HMACSHA256.hexMAC(key: secret, message: body)
    }
}
