import Foundation
import XCTest
@testable import Adapter

/// `X-Hub-Signature-256` verification.
final class WebhookSignatureTests: XCTestCase {
    let secret = Array("It's a Secret to Everybody".utf8)
    let body = Data("Hello, World!".utf8)
    let valid = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    private func verify(_ header: String?, body: Data? = nil, secret: [UInt8]? = nil) -> Result<Void, WebhookSignature.Failure> {
        WebhookSignature.verify(body: body ?? self.body, header: header, secret: secret ?? self.secret)
    }

    private func failure(_ r: Result<Void, WebhookSignature.Failure>) -> WebhookSignature.Failure? {
        if case .failure(let f) = r { return f }
        return nil
    }

    func testValidSignatureIsAccepted() {
        XCTAssertNil(failure(verify(valid)), "GitHub's documented example signature was rejected")
    }

    func testSignProducesWhatGitHubSends() {
        XCTAssertEqual(WebhookSignature.sign(body: body, secret: secret), valid, "sign() disagrees with GitHub's example")
    }

    func testUppercaseHexIsAccepted() {
        let upper = "sha256=" + valid.dropFirst(7).uppercased()
        XCTAssertNil(failure(verify(upper)), "uppercase hex of the right MAC was rejected")
    }

    func testWrongSecretIsMismatch() {
        XCTAssertEqual(failure(verify(valid, secret: Array("not the secret".utf8))), .mismatch,
                       "a signature made with another secret was not reported as a mismatch")
    }

    func testBodyChangedByOneByteIsMismatch() {
        var changed = body
        changed[changed.startIndex] ^= 0x01
        XCTAssertEqual(failure(verify(valid, body: changed)), .mismatch, "a one-byte change to the body went unnoticed")
    }

    func testMissingHeaderIsMissing() {
        XCTAssertEqual(failure(verify(nil)), .missing, "no header should be reported as missing")
        XCTAssertEqual(failure(verify("")), .missing, "an empty header should be reported as missing")
    }

    func testSHA1PrefixIsMalformed() {
        XCTAssertEqual(failure(verify("sha1=d03207e4b030cf234e3447bac4d93add4c6643d8")), .malformed,
                       "a legacy sha1= signature must not be accepted or compared")
    }

    func testNonHexIsMalformed() {
        let nonHex = "sha256=" + String(repeating: "zz", count: 32)
        XCTAssertEqual(failure(verify(nonHex)), .malformed, "non-hex digits should be malformed, not a mismatch")
    }

    func testWrongLengthIsMalformed() {
        XCTAssertEqual(failure(verify(String(valid.dropLast(2)))), .malformed, "a 31-byte MAC should be malformed")
        XCTAssertEqual(failure(verify(valid + "00")), .malformed, "a 33-byte MAC should be malformed")
    }

    func testBarePrefixIsMalformed() {
        XCTAssertEqual(failure(verify("sha256=")), .malformed, "sha256= with no digits should be malformed")
    }

    func testFailureDescriptionsNeverContainTheSecretOrMAC() {
        let secretText = String(decoding: secret, as: UTF8.self)
        for r in [verify(nil), verify("sha1=00"), verify(valid, secret: Array("other".utf8))] {
            let text = "\(failure(r).map { "\($0) \(String(reflecting: $0))" } ?? "")"
            XCTAssertFalse(text.contains(secretText), "a failure description contains the secret: \(text)")
            XCTAssertFalse(text.contains(String(valid.dropFirst(7))), "a failure description contains the MAC: \(text)")
        }
    }

    func testIsValidMatchesVerify() {
        XCTAssertTrue(WebhookSignature.isValid(body: body, header: valid, secret: secret), "isValid rejects a valid signature")
        XCTAssertFalse(WebhookSignature.isValid(body: body, header: nil, secret: secret), "isValid accepts a missing header")
    }

    func testStreamingVerifierAcceptsTheSignedBodyInPieces() throws {
        let given = try WebhookSignature.parse(header: valid).get()
        let verifier = WebhookSignature.Verifier(secret: secret, given: given)
        for byte in body { withUnsafeBytes(of: byte) { verifier.update($0) } }
        XCTAssertNil(failure(verifier.verdict()), "GitHub's example body fed byte by byte must verify")
    }

    func testStreamingVerifierRefusesAnotherBody() throws {
        let given = try WebhookSignature.parse(header: valid).get()
        let verifier = WebhookSignature.Verifier(secret: secret, given: given)
        Data("Hello, World?".utf8).withUnsafeBytes { verifier.update($0) }
        XCTAssertEqual(failure(verifier.verdict()), .mismatch, "a different body must be a mismatch")
    }

    func testHeaderAloneTellsAMalformedSignature() {
        guard case .failure(let f) = WebhookSignature.parse(header: "sha1=abc") else { return XCTFail("sha1= accepted") }
        XCTAssertEqual(f, .malformed, "a header that cannot be a SHA-256 signature is refused without the body")
    }
}
