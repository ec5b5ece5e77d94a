import Foundation
import Supervisor

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
        let given: [UInt8]
        switch parse(header: header) {
        case .success(let mac): given = mac
        case .failure(let failure): return .failure(failure)
        }
        let expected = HMACSHA256.mac(key: secret, message: body)
        return ConstantTime.equals(expected, given) ? .success(()) : .failure(.mismatch)
    }

    /// The MAC a header carries, or why it cannot be a valid signature at all (decided
    /// from the header alone, before any of the body is read).
    public static func parse(header: String?) -> Result<[UInt8], Failure> {
        guard let raw = header?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .failure(.missing) }
        guard raw.hasPrefix(prefix) else { return .failure(.malformed) }
        let hex = raw.dropFirst(prefix.count)
        guard hex.utf8.count == HMACSHA256.byteCount * 2, let given = Hex.decode(String(hex)) else {
            return .failure(.malformed)
        }
        return .success(given)
    }

    /// Checks a body against a signature while the body streams in: give it every byte
    /// with `update`, then ask `verdict()` once, when the last one is in.
    public final class Verifier: @unchecked Sendable {  // used by one thread at a time
        private let mac: HMACSHA256.Stream
        private let given: [UInt8]
        private var result: Result<Void, Failure>?

        /// - Parameter given: the MAC from the header (`parse(header:)`).
        public init(secret: [UInt8], given: [UInt8]) {
            mac = HMACSHA256.Stream(key: secret)
            self.given = given
        }

        public func update(_ bytes: UnsafeRawBufferPointer) {
            precondition(result == nil, "webhook signature verifier updated after its verdict")
            mac.update(bytes)
        }

        /// Whether the bytes so far carry the signature (constant-time comparison).
        public func verdict() -> Result<Void, Failure> {
            if let result { return result }
            let r: Result<Void, Failure> = ConstantTime.equals(mac.finalize(), given) ? .success(()) : .failure(.mismatch)
            result = r
            return r
        }
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
