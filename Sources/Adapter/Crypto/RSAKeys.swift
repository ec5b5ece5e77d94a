import Foundation
import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A PEM password callback that supplies no password, so an encrypted key fails to load
/// instead of OpenSSL prompting on the terminal (its default when the callback is NULL).
private let noPassword: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }

/// Runs `body` with a read-only memory BIO over `bytes`; the BIO does not copy them.
private func withMemoryBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T?) rethrows -> T? {
    try bytes.withUnsafeBytes { raw -> T? in
        guard let base = raw.baseAddress, raw.count > 0,
              let bio = BIO_new_mem_buf(base, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// Writes with `write` into a fresh memory BIO and returns what was written. With
/// `secret`, the BIO's buffer is OpenSSL secure memory, cleared when freed, and the
/// result is read in one piece so no partial copies are left in freed Swift buffers.
private func readOutBIO(_ operation: String, secret: Bool = false, _ write: (OpaquePointer) -> Int32) throws -> [UInt8] {
    guard let bio = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem()) else { throw CryptoError.fromQueue("BIO_new") }
    defer { BIO_free(bio) }
    guard write(bio) == 1 else { throw CryptoError.fromQueue(operation) }
    let pending = Int(BIO_ctrl_pending(bio))
    guard pending > 0 else { return [] }
    var out = [UInt8](repeating: 0, count: pending)
    let n = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
    guard Int(n) == pending else {
        ConstantTime.zero(&out)
        throw CryptoError.openssl(operation: operation, reason: "short read from memory BIO")
    }
    return out
}

/// An RSA private key held by OpenSSL (an `EVP_PKEY`), used to sign GitHub App JWTs.
///
/// The key is immutable once loaded, and OpenSSL allows concurrent signing with one
/// `EVP_PKEY` (each signature gets its own `EVP_MD_CTX`), hence `@unchecked Sendable`.
/// OpenSSL frees (and clears) the key material when this object goes away. The PEM bytes
/// read from a file are zeroed as soon as they are parsed. `description` never shows
/// key material.
public final class RSAPrivateKey: @unchecked Sendable, CustomStringConvertible {
    let pkey: OpaquePointer

    private init(taking pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    /// Parses a PEM RSA private key: PKCS#1 (the "RSA" PEM label) or unencrypted
    /// PKCS#8 (the plain "PRIVATE KEY" label). `path` only labels the error.
    public convenience init(pem: [UInt8], path: String? = nil) throws {
        ERR_clear_error()
        let loaded = withMemoryBIO(pem) { bio in PEM_read_bio_PrivateKey(bio, nil, noPassword, nil) }
        ERR_clear_error()
        guard let key = loaded else { throw CryptoError.notPEMRSAKey(path: path) }
        // A PEM whose base64 was damaged inside a big integer still parses; the pairwise
        // check (n = p·q, d consistent with e) catches that here rather than as 401s later.
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA, RSAPrivateKey.isConsistent(key) else {
            EVP_PKEY_free(key)
            throw CryptoError.notPEMRSAKey(path: path)
        }
        self.init(taking: key)
    }

    private static func isConsistent(_ key: OpaquePointer) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(key, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx); ERR_clear_error() }
        return EVP_PKEY_pairwise_check(ctx) == 1
    }

    /// Parses a PEM RSA private key from a string (see `init(pem:path:)`).
    public convenience init(pemString: String) throws {
        var bytes = Array(pemString.utf8)
        defer { ConstantTime.zero(&bytes) }
        try self.init(pem: bytes)
    }

    /// Reads and parses the PEM RSA private key at `path`. The file's bytes are zeroed
    /// in memory once parsed. Errors name the path, never the contents.
    public convenience init(contentsOfFile path: String) throws {
        var bytes = try RSAPrivateKey.readFile(path)
        defer { ConstantTime.zero(&bytes) }
        try self.init(pem: bytes, path: path)
    }

    /// Generates a fresh RSA key (for tests and local development; GitHub issues the real one).
    public static func generate(bits: Int = 2048) throws -> RSAPrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw CryptoError.fromQueue("EVP_PKEY_CTX_new_id") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw CryptoError.fromQueue("EVP_PKEY_keygen_init") }
        guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else {
            throw CryptoError.fromQueue("EVP_PKEY_CTX_set_rsa_keygen_bits")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw CryptoError.fromQueue("EVP_PKEY_generate") }
        return RSAPrivateKey(taking: key)
    }

    /// The modulus size in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }

    public var description: String { "RSAPrivateKey(\(bits) bits)" }

    /// The matching public key as PEM (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo): what
    /// GitHub holds, and what a fake GitHub API verifies JWTs with.
    public func publicKeyPEM() throws -> String {
        let bytes = try readOutBIO("PEM_write_bio_PUBKEY") { PEM_write_bio_PUBKEY($0, pkey) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The public half as an `RSAPublicKey`.
    public func publicKey() throws -> RSAPublicKey { try RSAPublicKey(pem: Array(publicKeyPEM().utf8)) }

    /// Output formats of `exportPrivateKeyPEM`.
    public enum PEMFormat: Sendable { case pkcs1, pkcs8 }

    /// Exports the private key as PEM. This is secret material: meant for tests and key
    /// provisioning only; zero the result (`ConstantTime.zero`) when done with it.
    public func exportPrivateKeyPEM(_ format: PEMFormat = .pkcs8) throws -> [UInt8] {
        switch format {
        case .pkcs8:
            return try readOutBIO("PEM_write_bio_PrivateKey", secret: true) { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) }
        case .pkcs1:
            return try readOutBIO("PEM_write_bio_PrivateKey_traditional", secret: true) {
                PEM_write_bio_PrivateKey_traditional($0, pkey, nil, nil, 0, nil, nil)
            }
        }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (the JWS "RS256" algorithm).
    public func signSHA256(_ message: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.fromQueue("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else {
            throw CryptoError.fromQueue("EVP_DigestSignInit")
        }
        return try message.withUnsafeBufferPointer { m -> [UInt8] in
            var len = 0
            guard EVP_DigestSign(ctx, nil, &len, m.baseAddress, m.count) == 1 else {
                throw CryptoError.fromQueue("EVP_DigestSign")
            }
            var sig = [UInt8](repeating: 0, count: len)
            guard EVP_DigestSign(ctx, &sig, &len, m.baseAddress, m.count) == 1 else {
                throw CryptoError.fromQueue("EVP_DigestSign")
            }
            return Array(sig.prefix(len))
        }
    }

    /// Reads the whole file into one buffer sized up front (from fstat), so no partial
    /// copies of the key are left behind in reallocated memory.
    private static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CryptoError.unreadableKeyFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CryptoError.unreadableKeyFile(path: path, reason: String(cString: strerror(errno)))
        }
        // A PEM RSA key is a few KiB; anything large (or not a regular file) is not one.
        let size = Int(st.st_size)
        guard (st.st_mode & S_IFMT) == S_IFREG, size > 0, size <= 1 << 20 else {
            throw CryptoError.notPEMRSAKey(path: path)
        }
        var buf = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, size - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                ConstantTime.zero(&buf)
                throw CryptoError.unreadableKeyFile(path: path, reason: reason)
            }
            if n == 0 { break }
            filled += n
        }
        if filled == size { return buf }
        // The file shrank while being read: keep what was read, clear the full buffer.
        let out = Array(buf.prefix(filled))
        ConstantTime.zero(&buf)
        return out
    }
}

/// An RSA public key, used to verify RS256 signatures (the fake GitHub API's side).
public final class RSAPublicKey: @unchecked Sendable, CustomStringConvertible {
    let pkey: OpaquePointer

    deinit { EVP_PKEY_free(pkey) }

    /// Parses a `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) PEM, as `publicKeyPEM()` writes
    /// and as GitHub shows. (PKCS#1 `BEGIN RSA PUBLIC KEY` would need OpenSSL's deprecated
    /// RSA API, so it is not accepted.)
    public init(pem: [UInt8]) throws {
        ERR_clear_error()
        let loaded = withMemoryBIO(pem) { bio in PEM_read_bio_PUBKEY(bio, nil, noPassword, nil) }
        ERR_clear_error()
        guard let key = loaded else { throw CryptoError.notPEMRSAPublicKey }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw CryptoError.notPEMRSAPublicKey
        }
        self.pkey = key
    }

    /// Parses a PEM public key string (see `init(pem:)`).
    public convenience init(pemString: String) throws { try self.init(pem: Array(pemString.utf8)) }

    public var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }
    public var description: String { "RSAPublicKey(\(bits) bits)" }

    /// True when `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    public func verifySHA256(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx); ERR_clear_error() }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else { return false }
        return signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                EVP_DigestVerify(ctx, s.baseAddress, s.count, m.baseAddress, m.count) == 1
            }
        }
    }
}
