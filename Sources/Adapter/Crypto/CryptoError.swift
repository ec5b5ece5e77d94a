import Foundation
import COpenSSL

/// Errors from the crypto layer. No case carries key bytes or secrets: at most a file
/// path, an operation name and OpenSSL's own reason string (which never quotes input).
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes were not a PEM-encoded RSA private key (PKCS#1 or unencrypted PKCS#8).
    /// `path` is where they came from, when they came from a file.
    case notPEMRSAKey(path: String?)
    /// The bytes were not a PEM-encoded RSA public key (SubjectPublicKeyInfo).
    case notPEMRSAPublicKey
    /// The key file could not be read.
    case unreadableKeyFile(path: String, reason: String)
    /// An OpenSSL call failed.
    case openssl(operation: String, reason: String)

    public var description: String {
        switch self {
        case .notPEMRSAKey(let path?): return "private key at \(path): not a PEM RSA key"
        case .notPEMRSAKey(nil): return "private key: not a PEM RSA key"
        case .notPEMRSAPublicKey: return "public key: not a PEM RSA public key"
        case .unreadableKeyFile(let path, let reason): return "private key at \(path): cannot read: \(reason)"
        case .openssl(let op, let reason): return "OpenSSL \(op) failed: \(reason)"
        }
    }

    /// Builds `.openssl` from (and empties) the thread's OpenSSL error queue.
    static func fromQueue(_ operation: String) -> CryptoError {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return .openssl(operation: operation, reason: "unknown error") }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        let reason = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return .openssl(operation: operation, reason: reason)
    }
}
