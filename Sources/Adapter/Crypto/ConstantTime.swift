import Foundation
import COpenSSL

/// Comparisons whose running time does not depend on where two secrets differ.
public enum ConstantTime {
    /// True when `a` and `b` hold the same bytes. The time taken depends only on the
    /// lengths (which are not secret here: a MAC's length is public), never on the
    /// position of the first differing byte. Uses OpenSSL's `CRYPTO_memcmp`.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0
            }
        }
    }

    /// Overwrites `bytes` with zeros in a way the optimiser may not remove (`OPENSSL_cleanse`).
    /// Use on buffers that held key material once they are no longer needed.
    public static func zero(_ bytes: inout [UInt8]) {
        let n = bytes.count
        guard n > 0 else { return }
        bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, n) }
    }
}
