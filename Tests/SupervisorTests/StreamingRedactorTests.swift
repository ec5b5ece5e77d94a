import XCTest
import Foundation
@testable import Supervisor

/// `StreamingRedactor` gives what `Redactor` gives for the whole output, however the
/// output is cut into pieces, and holds back no more than it must.
final class StreamingRedactorTests: XCTestCase {
    static let secret = "s3cr3t-t0k3n-value-for-tests"
    static let redactor = Redactor(secrets: [secret])

    /// Inputs with something to redact in the middle (and a near miss or two).
    static let inputs: [String] = [
        "before \(secret) after",
        "push \(FakeToken.make("ghp_", 32)) done",
        "pat \(FakeToken.make("github_pat_11", 16))_\(FakeToken.make("", 26)) end",
        "url https://x-access-token:whatever-it-is@github.com/a/b.git\n",
        "basic \(Data("x-access-token:\(secret)".utf8).base64EncodedString()) header",
        "near misses: ghp_short x-access-token: spaced @ gh gi \(secret.prefix(10)) end",
        "\(secret)\(secret)\(FakeToken.make("ghs_", 30))",
    ]

    func redactInPieces(_ text: String, cuts: [Int]) -> String {
        var r = StreamingRedactor(Self.redactor)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] where cut >= start {
            out += r.feed(bytes[start..<cut])
            start = cut
        }
        out += r.finish()
        return String(decoding: out, as: UTF8.self)
    }

    func whole(_ text: String) -> String { Self.redactor.redact(text) }

    func testEveryCutInTwoGivesTheWholeRedaction() {
        for text in Self.inputs {
            for cut in 0...text.utf8.count {
                XCTAssertEqual(redactInPieces(text, cuts: [cut]), whole(text), "cut at \(cut) of \(text.debugDescription)")
            }
        }
    }

    func testRandomPiecesGiveTheWholeRedaction() {
        var rng = SplitMix64(seed: 13)
        for text in Self.inputs {
            for _ in 0..<200 {
                let n = text.utf8.count
                let cuts = (0..<Int(rng.next() % 6)).map { _ in Int(rng.next() % UInt64(n + 1)) }
                XCTAssertEqual(redactInPieces(text, cuts: cuts), whole(text), "cuts \(cuts.sorted()) of \(text.debugDescription)")
            }
        }
    }

    func testAByteAtATimeGivesTheWholeRedaction() {
        for text in Self.inputs {
            XCTAssertEqual(redactInPieces(text, cuts: Array(0...text.utf8.count)), whole(text), text.debugDescription)
        }
    }

    func testTheStartOfASecretIsHeldBackUntilDecided() {
        var r = StreamingRedactor(Self.redactor)
        let out = String(decoding: r.feed(Array(("log: " + Self.secret.prefix(12)).utf8)), as: UTF8.self)
        XCTAssertEqual(out, "log: ", "the possible start of a secret must not be sent before the rest decides")
        XCTAssertEqual(r.heldBack, 12)
    }

    func testAnEndlessTokenHoldsBackAtMostMaxHold() {
        var r = StreamingRedactor(Self.redactor)
        var out: [UInt8] = r.feed(Array("x ghp_".utf8))
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 16 * 1024)
        for _ in 0..<20 {
            out += r.feed(piece)
            XCTAssertLessThanOrEqual(r.heldBack, StreamingRedactor.maxHold, "held back past the bound")
        }
        out += r.feed(Array(" end".utf8)) + r.finish()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "x \(Redactor.marker) end", "a long token is still redacted whole")
    }
}
