import Foundation
import XCTest
@testable import Adapter

/// RSA key handling and the GitHub App RS256 JWT. Keys are generated at test time;
/// none is committed.
final class CryptoJWTTests: XCTestCase {
    /// One fresh 2048-bit key for the class (generation is the slow part).
    static let key: RSAPrivateKey = try! RSAPrivateKey.generate(bits: 2048)
    static let otherKey: RSAPrivateKey = try! RSAPrivateKey.generate(bits: 2048)
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let tempDir { try? FileManager.default.removeItem(at: tempDir) }
    }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let url = tempDir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func token(appID: String = "123456", key: RSAPrivateKey = CryptoJWTTests.key) throws -> String {
        try JWT.githubAppToken(appID: appID, key: key, now: Self.now)
    }

    private func pub(_ key: RSAPrivateKey = CryptoJWTTests.key) throws -> String { try key.publicKeyPEM() }

    private func decodePart(_ token: String, _ i: Int) -> String {
        let part = String(token.split(separator: ".", omittingEmptySubsequences: false)[i])
        return String(decoding: Base64URL.decode(part) ?? [], as: UTF8.self)
    }

    // MARK: sign and verify

    func testSignThenVerifyRoundTrips() throws {
        let claims = JWT.verifyRS256(token: try token(), publicKeyPEM: try pub(), now: Self.now)
        XCTAssertNotNil(claims, "a token signed with the key did not verify with its own public key")
        XCTAssertEqual(claims?.iss, "123456", "iss did not survive the round trip")
    }

    func testClaimsWindowIsNowMinus60ToNowPlus540() throws {
        let claims = try XCTUnwrap(JWT.verifyRS256(token: try token(), publicKeyPEM: try pub(), now: Self.now))
        let t = Int64(Self.now.timeIntervalSince1970)
        XCTAssertEqual(claims.iat, t - 60, "iat should be back-dated 60 s for clock drift")
        XCTAssertEqual(claims.exp, t + 540, "exp should be 540 s ahead (10 minutes after iat, GitHub's maximum)")
    }

    func testHeaderIsExactlyRS256JWT() throws {
        XCTAssertEqual(decodePart(try token(), 0), #"{"alg":"RS256","typ":"JWT"}"#, "JOSE header is not the fixed RS256 header")
    }

    func testNumericAppIDIsEncodedAsJSONInteger() throws {
        XCTAssertTrue(decodePart(try token(appID: "123456"), 1).contains(#""iss":123456"#),
                      "a numeric App ID should be a JSON integer in iss")
    }

    func testClientIDIsEncodedAsJSONString() throws {
        let t = try token(appID: "Iv1.8a61f9b3a7aba766")
        XCTAssertTrue(decodePart(t, 1).contains(#""iss":"Iv1.8a61f9b3a7aba766""#), "a client ID should be a JSON string in iss")
        XCTAssertEqual(JWT.verifyRS256(token: t, publicKeyPEM: try pub(), now: Self.now)?.iss, "Iv1.8a61f9b3a7aba766",
                       "a string iss did not verify back")
    }

    func testTamperedPayloadFailsVerification() throws {
        let parts = try token().split(separator: ".").map(String.init)
        let forged = #"{"iat":1699999940,"exp":1700000540,"iss":999999}"#
        let tampered = [parts[0], Base64URL.encode(Array(forged.utf8)), parts[2]].joined(separator: ".")
        XCTAssertNil(JWT.verifyRS256(token: tampered, publicKeyPEM: try pub(), now: Self.now),
                     "a token whose payload was swapped still verified")
    }

    func testTamperedSignatureFailsVerification() throws {
        var parts = try token().split(separator: ".").map(String.init)
        var sig = try XCTUnwrap(Base64URL.decode(parts[2]))
        sig[sig.count / 2] ^= 0x01
        parts[2] = Base64URL.encode(sig)
        XCTAssertNil(JWT.verifyRS256(token: parts.joined(separator: "."), publicKeyPEM: try pub(), now: Self.now),
                     "a token with one signature bit flipped still verified")
    }

    func testWrongKeyFailsVerification() throws {
        XCTAssertNil(JWT.verifyRS256(token: try token(), publicKeyPEM: try pub(Self.otherKey), now: Self.now),
                     "a token verified under an unrelated public key")
    }

    func testAlgNoneIsRejected() throws {
        let parts = try token().split(separator: ".").map(String.init)
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        XCTAssertNil(JWT.verifyRS256(token: [none, parts[1], parts[2]].joined(separator: "."),
                                     publicKeyPEM: try pub(), now: Self.now),
                     "a token claiming alg none was accepted")
        XCTAssertNil(JWT.verifyRS256(token: [none, parts[1], ""].joined(separator: "."),
                                     publicKeyPEM: try pub(), now: Self.now),
                     "an unsigned alg none token was accepted")
    }

    func testExpiredTokenFailsVerification() throws {
        let later = Self.now.addingTimeInterval(541)
        XCTAssertNil(JWT.verifyRS256(token: try token(), publicKeyPEM: try pub(), now: later),
                     "a token was accepted after its exp")
    }

    func testTokenFromTheFarFutureFailsVerification() throws {
        let earlier = Self.now.addingTimeInterval(-600)
        XCTAssertNil(JWT.verifyRS256(token: try token(), publicKeyPEM: try pub(), now: earlier),
                     "a token issued 9 minutes in the future was accepted")
    }

    func testOverlongLifetimeFailsVerification() throws {
        let t = Int64(Self.now.timeIntervalSince1970)
        let long = try JWT.signRS256(JWTClaims(iss: "1", iat: t, exp: t + 3600), key: Self.key)
        XCTAssertNil(JWT.verifyRS256(token: long, publicKeyPEM: try pub(), now: Self.now),
                     "a token valid for an hour was accepted (GitHub allows at most 10 minutes)")
    }

    func testGarbageTokensFailVerification() throws {
        let p = try pub()
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", "..", try token() + "x"] {
            XCTAssertNil(JWT.verifyRS256(token: bad, publicKeyPEM: p, now: Self.now), "garbage token \(bad.debugDescription) verified")
        }
    }

    func testSignatureVerifiesWithOpenSSLCommandLine() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw XCTSkip("no openssl binary to cross-check with")
        }
        let parts = try token().split(separator: ".").map(String.init)
        let input = try write(Array((parts[0] + "." + parts[1]).utf8), "input")
        let sig = try write(try XCTUnwrap(Base64URL.decode(parts[2])), "sig")
        let pubPath = try write(Array(try pub().utf8), "pub.pem")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["dgst", "-sha256", "-verify", pubPath, "-signature", sig, input]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "openssl dgst -verify rejected our RS256 signature")
    }

    // MARK: keys

    func testPublicKeyPEMIsSubjectPublicKeyInfo() throws {
        let pem = try pub()
        XCTAssertTrue(pem.hasPrefix("-----BEGIN PUBLIC KEY-----"), "derived public key is not a BEGIN PUBLIC KEY PEM")
        XCTAssertFalse(pem.contains("PRIVATE"), "derived public key PEM contains private material")
    }

    func testLoadsPKCS8KeyFromFile() throws {
        var pem = try Self.key.exportPrivateKeyPEM(.pkcs8)
        defer { ConstantTime.zero(&pem) }
        XCTAssertTrue(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN " + "PRIVATE KEY-----"), "PKCS#8 export header wrong")
        let loaded = try RSAPrivateKey(contentsOfFile: try write(pem, "key8.pem"))
        XCTAssertEqual(try loaded.publicKeyPEM(), try pub(), "PKCS#8 key loaded from file is not the same key")
    }

    func testLoadsPKCS1KeyFromFile() throws {
        var pem = try Self.key.exportPrivateKeyPEM(.pkcs1)
        defer { ConstantTime.zero(&pem) }
        XCTAssertTrue(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN " + "RSA PRIVATE KEY-----"), "PKCS#1 export header wrong")
        let loaded = try RSAPrivateKey(contentsOfFile: try write(pem, "key1.pem"))
        XCTAssertEqual(try loaded.publicKeyPEM(), try pub(), "PKCS#1 key loaded from file is not the same key")
    }

    func testTokenFromLoadedKeyVerifiesWithOriginalPublicKey() throws {
        var pem = try Self.key.exportPrivateKeyPEM(.pkcs1)
        defer { ConstantTime.zero(&pem) }
        let loaded = try RSAPrivateKey(pem: pem)
        let t = try JWT.githubAppToken(appID: "42", key: loaded, now: Self.now)
        XCTAssertNotNil(JWT.verifyRS256(token: t, publicKeyPEM: try pub(), now: Self.now),
                        "a token signed by the reloaded key does not verify with the original public key")
    }

    func testBadPEMErrorNamesPathButNoKeyBytes() throws {
        let garbage = "-----BEGIN " + "RSA PRIVATE KEY-----\nTOPSECRETMATERIALdGhpcyBpcyBub3QgYSBrZXk=\n-----END RSA PRIVATE KEY-----\n"
        let path = try write(Array(garbage.utf8), "bad.pem")
        XCTAssertThrowsError(try RSAPrivateKey(contentsOfFile: path), "garbage PEM loaded as a key") { error in
            let text = "\(error)"
            XCTAssertEqual(text, "private key at \(path): not a PEM RSA key", "error message has the wrong shape")
            XCTAssertFalse(text.contains("TOPSECRET"), "error message leaks the file's contents")
            XCTAssertFalse(String(reflecting: error).contains("TOPSECRET"), "error debug description leaks the file's contents")
        }
    }

    /// A real key with damaged base64: `mutate` gets the PEM's lines and returns new ones.
    private func assertCorruptedKeyRejectedWithoutLeak(_ what: String, _ mutate: ([String]) -> [String],
                                                       line: UInt = #line) throws {
        var pem = try Self.key.exportPrivateKeyPEM(.pkcs8)
        defer { ConstantTime.zero(&pem) }
        let lines = String(decoding: pem, as: UTF8.self).split(separator: "\n").map(String.init)
        let body = lines[1..<(lines.count - 1)]
        let path = try write(Array((mutate(lines).joined(separator: "\n") + "\n").utf8), "corrupt.pem")
        XCTAssertThrowsError(try RSAPrivateKey(contentsOfFile: path), "\(what): the damaged key loaded", line: line) { error in
            XCTAssertEqual("\(error)", "private key at \(path): not a PEM RSA key", "\(what): wrong message", line: line)
            let message = "\(error) \(String(reflecting: error))"
            for l in body where l.count >= 16 {
                XCTAssertFalse(message.contains(l.prefix(16)), "\(what): error message contains a line of the key", line: line)
            }
        }
    }

    func testTruncatedKeyIsRejectedWithoutLeak() throws {
        try assertCorruptedKeyRejectedWithoutLeak("truncated") { lines in
            Array(lines.prefix(4)) + [lines.last!]
        }
    }

    func testKeyWithDamagedIntegerIsRejectedWithoutLeak() throws {
        // Reversing a line in the middle keeps valid base64 and DER framing but changes
        // the primes' bytes: only a consistency check can notice.
        try assertCorruptedKeyRejectedWithoutLeak("damaged integer") { lines in
            var l = lines
            l[l.count / 2] = String(l[l.count / 2].reversed())
            return l
        }
    }

    func testPublicKeyIsNotAPrivateKey() throws {
        XCTAssertThrowsError(try RSAPrivateKey(pemString: try pub()), "a public key PEM was accepted as a private key") { error in
            XCTAssertEqual("\(error)", "private key: not a PEM RSA key", "wrong error for a public key given as private")
        }
    }

    func testMissingKeyFileSaysSo() throws {
        let path = tempDir.appendingPathComponent("absent.pem").path
        XCTAssertThrowsError(try RSAPrivateKey(contentsOfFile: path), "a missing key file loaded") { error in
            XCTAssertTrue("\(error)".hasPrefix("private key at \(path): cannot read"), "missing file error: \(error)")
        }
    }

    func testKeyDescriptionShowsNoMaterial() throws {
        XCTAssertEqual("\(Self.key)", "RSAPrivateKey(2048 bits)", "key description should only give its size")
    }

    func testNonRSAKeyIsRejected() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw XCTSkip("no openssl binary to make an EC key with")
        }
        let path = tempDir.appendingPathComponent("ec.pem").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try XCTSkipIf(p.terminationStatus != 0, "openssl could not make an EC key")
        XCTAssertThrowsError(try RSAPrivateKey(contentsOfFile: path), "an EC key was accepted as RSA") { error in
            XCTAssertEqual("\(error)", "private key at \(path): not a PEM RSA key", "wrong error for an EC key")
        }
    }
}
