import Foundation
import Supervisor
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

    /// HMAC-SHA256 over a message that arrives in pieces (OpenSSL's EVP_MAC "HMAC"), so a
    /// request body can be authenticated while it streams in. One thread at a time.
    public final class Stream: @unchecked Sendable {
        private var context: OpaquePointer?

        // Fetched once: the provider lookup is the costly part of setting up an HMAC.
        nonisolated(unsafe) private static let algorithm: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

        /// The key is only read, never kept beyond OpenSSL's own keyed state.
        public init(key: [UInt8]) {
            let ctx = EVP_MAC_CTX_new(Self.algorithm)
            var ok = ctx != nil
            if let ctx {
                var digestName = Array("SHA256".utf8CString)
                ok = OSSL_MAC_PARAM_DIGEST.withCString { name in
                    digestName.withUnsafeMutableBufferPointer { digest in
                        var params = [OSSL_PARAM_construct_utf8_string(name, digest.baseAddress, 0), OSSL_PARAM_construct_end()]
                        // EVP_MAC_init wants a non-null key pointer even for an empty key.
                        let keyBytes = key.isEmpty ? [0] : key
                        return keyBytes.withUnsafeBufferPointer { k in
                            EVP_MAC_init(ctx, k.baseAddress, key.count, &params) == 1
                        }
                    }
                }
            }
            // Fails only without memory or without OpenSSL's default provider; neither is recoverable.
            precondition(ok, "OpenSSL HMAC-SHA256 (EVP_MAC) could not be set up")
            context = ctx
        }

        deinit { EVP_MAC_CTX_free(context) }

        public func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, bytes.count > 0, let context else { return }
            precondition(EVP_MAC_update(context, base.assumingMemoryBound(to: UInt8.self), bytes.count) == 1,
                         "OpenSSL HMAC-SHA256 update failed")
        }

        /// The MAC of everything given to `update`. Call once.
        public func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length = 0
            let ok = out.withUnsafeMutableBufferPointer { o in
                EVP_MAC_final(context, o.baseAddress, &length, o.count) == 1
            }
            precondition(ok && length == byteCount, "OpenSSL HMAC-SHA256 final failed")
            EVP_MAC_CTX_free(context)
            context = nil
            return Array(out.prefix(byteCount))
        }
    }
}
