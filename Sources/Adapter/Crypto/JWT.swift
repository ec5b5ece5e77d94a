import Foundation
import Sandbox

/// The registered claims a GitHub App JWT carries.
public struct JWTClaims: Sendable, Equatable {
    /// The issuer: the GitHub App's id (or client id), as text. A numeric `iss` in the
    /// token is returned as its decimal digits.
    public var iss: String
    /// Issued-at, seconds since the Unix epoch.
    public var iat: Int64
    /// Expiry, seconds since the Unix epoch.
    public var exp: Int64

    public init(iss: String, iat: Int64, exp: Int64) { self.iss = iss; self.iat = iat; self.exp = exp }
}

/// RS256 JSON Web Tokens (RFC 7519) as GitHub Apps use them to authenticate as the app.
public enum JWT {
    /// The fixed JOSE header, byte for byte.
    public static let rs256Header = #"{"alg":"RS256","typ":"JWT"}"#
    /// GitHub rejects tokens that expire more than 10 minutes after they are presented.
    public static let maxLifetime: Int64 = 600
    /// How far `iat` is back-dated to tolerate clock drift (GitHub's recommendation).
    public static let backdate: Int64 = 60

    /// A JWT for authenticating as the GitHub App `appID`:
    /// `iat` = now − 60 s, `exp` = now + 540 s (so `exp − iat` is 600 s, GitHub's limit).
    /// `iss` is a JSON integer when `appID` is all digits (the numeric App ID, as GitHub's
    /// docs show it), otherwise a JSON string (a client ID like `Iv1.abc123`).
    public static func githubAppToken(appID: String, key: RSAPrivateKey, now: Date = Date()) throws -> String {
        let t = Int64(now.timeIntervalSince1970.rounded(.down))
        let claims = JWTClaims(iss: appID, iat: t - backdate, exp: t + maxLifetime - backdate)
        return try signRS256(claims, key: key)
    }

    /// Signs `claims` as `base64url(header).base64url(payload).base64url(signature)`.
    /// The payload's keys are in a fixed order: `iat`, `exp`, `iss`.
    public static func signRS256(_ claims: JWTClaims, key: RSAPrivateKey) throws -> String {
        let iss: String
        if !claims.iss.isEmpty, claims.iss.utf8.allSatisfy({ (0x30...0x39).contains($0) }), Int64(claims.iss) != nil {
            iss = claims.iss
        } else {
            iss = JSONText.quoted(claims.iss)
        }
        let payload = #"{"iat":\#(claims.iat),"exp":\#(claims.exp),"iss":\#(iss)}"#
        let signingInput = Base64URL.encode(Array(rs256Header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let signature = try key.signSHA256(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Verifies an RS256 token against a PEM public key (`BEGIN PUBLIC KEY`) and returns
    /// its claims, or nil when the key is unusable, the token is malformed, its header is
    /// not RS256, the signature does not verify, or the claims are missing.
    ///
    /// When `now` is given the time window is checked as GitHub does: `iat` not more than
    /// `leeway` seconds in the future, `exp` after `now`, `exp` at most `maxLifetime`
    /// seconds after `now`, and `exp` after `iat`. Pass `now: nil` to skip time checks.
    public static func verifyRS256(token: String, publicKeyPEM: String,
                                   now: Date? = Date(), leeway: Int64 = 60) -> JWTClaims? {
        guard let key = try? RSAPublicKey(pemString: publicKeyPEM) else { return nil }
        return verifyRS256(token: token, publicKey: key, now: now, leeway: leeway)
    }

    /// As `verifyRS256(token:publicKeyPEM:now:leeway:)` with a parsed key.
    public static func verifyRS256(token: String, publicKey: RSAPublicKey,
                                   now: Date? = Date(), leeway: Int64 = 60) -> JWTClaims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(String(parts[0])),
              let payloadBytes = Base64URL.decode(String(parts[1])),
              let signature = Base64URL.decode(String(parts[2])), !signature.isEmpty
        else { return nil }

        struct Header: Decodable { var alg: String; var typ: String? }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
              header.alg == "RS256", header.typ == nil || header.typ == "JWT"
        else { return nil }

        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard publicKey.verifySHA256(signature: signature, message: signingInput) else { return nil }

        guard let decoded = try? JSONDecoder().decode(Payload.self, from: Data(payloadBytes)) else { return nil }
        let claims = JWTClaims(iss: decoded.iss.text, iat: decoded.iat, exp: decoded.exp)

        if let now {
            let t = Int64(now.timeIntervalSince1970.rounded(.down))
            guard claims.iat <= t + leeway,
                  claims.exp > t,
                  claims.exp <= t + maxLifetime,
                  claims.exp > claims.iat
            else { return nil }
        }
        return claims
    }

    private struct Payload: Decodable {
        var iss: Issuer
        var iat: Int64
        var exp: Int64
    }

    /// `iss` may be a JSON integer or a string.
    private struct Issuer: Decodable {
        var text: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int64.self) { text = String(n) } else { text = try c.decode(String.self) }
        }
    }

}
