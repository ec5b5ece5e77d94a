import Foundation
import COpenSSL

/// HMAC-SHA256 computed by OpenSSL (`HMAC()` with `EVP_sha256()`).
public enum HMACSHA256 {
    /// Output length in bytes.
    public static let byteCount = 32

    /// HMAC-SHA256(key, message). The key is only read, never copied or logged.
    public static func mac<M: ContiguousBytes>(key: [UInt8], message: M) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outLen: UInt32 = 0
        // HMAC() wants a non-null key pointer even for an empty key.
        let keyBytes = key.isEmpty ? [0] : key
        let ok: Bool = keyBytes.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    // An empty message may come with a nil base address: hand HMAC a valid pointer.
                    let empty: UInt8 = 0
                    return withUnsafePointer(to: empty) { emptyPtr in
                        let mPtr = m.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? emptyPtr
                        return HMAC(EVP_sha256(), k.baseAddress, Int32(key.count),
                                    mPtr, m.count,
                                    o.baseAddress!.assumingMemoryBound(to: UInt8.self), &outLen) != nil
                    }
                }
            }
        }
        // HMAC() only fails on allocation failure or an unusable digest; neither is recoverable.
        precondition(ok && Int(outLen) == byteCount, "OpenSSL HMAC-SHA256 failed")
        return Array(out.prefix(byteCount))
    }

    /// Lowercase hex of HMAC-SHA256(key, message).
    public static func hexMAC<M: ContiguousBytes>(key: [UInt8], message: M) -> String {
        Hex.encode(mac(key: key, message: message))
    }
}
