import Foundation

/// A GitHub App's identity: its id and its RSA private key.
///
/// `description` and reflection (`dump`, string interpolation of the struct) never
/// show the key: only the app id.
public struct GitHubAppCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The App ID (digits) or the App's client ID (`Iv1.…`); the JWT's `iss`.
    public let appID: String
    let privateKey: RSAPrivateKey

    public init(appID: String, privateKey: RSAPrivateKey) throws {
        let id = appID.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !id.isEmpty else {
            throw GitHubAPIError(kind: .configuration, endpoint: "-", message: "the GitHub App id is empty")
        }
        self.appID = id
        self.privateKey = privateKey
    }

    /// Loads the PEM private key GitHub issued for the App (PKCS#1 or PKCS#8). Errors name
    /// the path, never the key.
    public init(appID: String, privateKeyPath: String) throws {
        try self.init(appID: appID, privateKey: try RSAPrivateKey(contentsOfFile: privateKeyPath))
    }

    /// A fresh App JWT (RS256; `iss` = app id, `iat` = now − 60 s, `exp` = now + 540 s).
    public func appJWT(now: Date = Date()) throws -> String {
        try JWT.githubAppToken(appID: appID, key: privateKey, now: now)
    }

    public var description: String { "GitHubAppCredentials(appID: \(appID), privateKey: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["appID": appID, "privateKey": "<redacted>"]) }
}
