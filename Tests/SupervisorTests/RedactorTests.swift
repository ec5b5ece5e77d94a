import XCTest
@testable import Supervisor

final class RedactorTests: XCTestCase {
    private func redacted(_ s: String, secrets: [String] = []) -> String {
        Redactor(secrets: secrets).redact(Data(s.utf8)).text
    }

    func testLiveSecretIsRedacted() {
        XCTAssertEqual(redacted("token=s3cr3t-value; again s3cr3t-value", secrets: ["s3cr3t-value"]),
                       "token=[REDACTED]; again [REDACTED]")
    }

    func testBase64BasicAuthOfLiveSecretIsRedacted() {
        let b64 = Data("x-access-token:s3cr3t".utf8).base64EncodedString()
        XCTAssertEqual(redacted("Authorization: Basic \(b64)", secrets: ["s3cr3t"]), "Authorization: Basic [REDACTED]")
    }

    func testEachGitHubTokenShapeIsRedacted() {
        for prefix in ["ghs_", "ghp_", "gho_", "ghu_", "ghr_", "github_pat_"] {
            let token = prefix + "A1b2C3d4E5f6G7h8I9j0_kLm"
            XCTAssertEqual(redacted("use \(token) now"), "use [REDACTED] now", "\(prefix) token not redacted")
        }
    }

    func testShortTokenLookalikeIsKept() {
        XCTAssertEqual(redacted("ghs_short and ghp_1234567890123456789"), "ghs_short and ghp_1234567890123456789",
                       "fewer than 20 token characters is not a token")
    }

    func testAccessTokenURLIsRedacted() {
        XCTAssertEqual(redacted("fatal: https://x-access-token:abc.def-123@github.com/o/r.git"),
                       "fatal: https://x-access-token:[REDACTED]@github.com/o/r.git")
    }

    func testInvalidUTF8IsTolerated() {
        var input = Data([0xFF, 0xFE, 0x20])
        input.append(Data(FakeToken.make("ghs_", 26).utf8))
        input.append(contentsOf: [0x20, 0xC3])
        var expected = Data([0xFF, 0xFE, 0x20])
        expected.append(Data("[REDACTED]".utf8))
        expected.append(contentsOf: [0x20, 0xC3])
        XCTAssertEqual(Redactor().redact(input).data, expected, "bytes around the token must pass through unchanged")
    }

    func testOutputIsCappedToTheTailAndMarked() {
        let cap = 4096
        let input = Data((String(repeating: "a", count: 10_000) + "THE-END").utf8)
        let out = Redactor(cap: cap).redact(input)
        XCTAssertTrue(out.truncated)
        XCTAssertLessThanOrEqual(out.data.count, cap)
        XCTAssertTrue(out.text.hasPrefix("[coven: output truncated"), "truncation must be marked")
        XCTAssertTrue(out.text.hasSuffix("THE-END"), "the tail must be kept")
        XCTAssertEqual(out.originalByteCount, input.count)
    }

    func testDefaultCapIsOneMiB() {
        let out = Redactor().redact(Data(count: 3 << 20))
        XCTAssertLessThanOrEqual(out.data.count, 1 << 20)
        XCTAssertTrue(out.truncated)
    }

    func testSecretAtTheCutIsNotExposed() {
        let secret = "SECRETSECRETSECRETSECRET"
        let cap = 1024
        // Slide the secret across the cut: cutting before redacting would leave a part
        // of it for some of these offsets.
        for tail in stride(from: cap - 150, through: cap, by: 1) {
            let input = String(repeating: "x", count: 5000) + secret + String(repeating: "y", count: tail)
            let out = Redactor(secrets: [secret], cap: cap).redact(Data(input.utf8)).text
            XCTAssertFalse(out.contains("CRET"), "part of the secret survived the cut with \(tail) bytes after it")
        }
    }

    func testShortInputIsNotTruncated() {
        let out = Redactor().redact(Data("hello".utf8))
        XCTAssertFalse(out.truncated)
        XCTAssertEqual(out.text, "hello")
    }

    func testRedactShapesOnStrings() {
        XCTAssertEqual(Redactor.redactShapes("clone https://x-access-token:ghs_x@github.com failed"),
                       "clone https://x-access-token:[REDACTED]@github.com failed")
    }
}
