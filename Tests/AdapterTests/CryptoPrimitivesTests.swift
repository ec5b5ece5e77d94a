import Foundation
import XCTest
@testable import Adapter
import Supervisor

/// HMAC-SHA256, hex, base64url and constant-time comparison.
final class CryptoPrimitivesTests: XCTestCase {
    func testHMACMatchesRFC4231Case1() {
        let mac = HMACSHA256.hexMAC(key: [UInt8](repeating: 0x0b, count: 20), message: Data("Hi There".utf8))
        XCTAssertEqual(mac, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                       "HMAC-SHA256 disagrees with RFC 4231 test case 1")
    }

    func testHMACMatchesRFC4231Case2() {
        let mac = HMACSHA256.hexMAC(key: Array("Jefe".utf8), message: Data("what do ya want for nothing?".utf8))
        XCTAssertEqual(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                       "HMAC-SHA256 disagrees with RFC 4231 test case 2")
    }

    func testHMACMatchesGitHubDocsExample() {
        let mac = HMACSHA256.hexMAC(key: Array("It's a Secret to Everybody".utf8), message: Data("Hello, World!".utf8))
        XCTAssertEqual(mac, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                       "HMAC-SHA256 disagrees with the example in GitHub's webhook docs")
    }

    func testHMACOfEmptyMessageWithEmptyKeyIsDefined() {
        // RFC 2104 with an empty key and message; value from `openssl dgst -sha256 -hmac ''`.
        XCTAssertEqual(HMACSHA256.hexMAC(key: [], message: Data()),
                       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
                       "HMAC-SHA256 of empty input under an empty key is wrong (nil-pointer handling?)")
    }

    func testHexRoundTrips() {
        let bytes: [UInt8] = [0x00, 0x0f, 0xa5, 0xff]
        XCTAssertEqual(Hex.encode(bytes), "000fa5ff", "hex encoding is not lowercase two digits per byte")
        XCTAssertEqual(Hex.decode("000FA5ff"), bytes, "hex decoding should accept either case")
    }

    func testHexRejectsOddLengthAndNonHex() {
        XCTAssertNil(Hex.decode("abc"), "odd-length hex must not decode")
        XCTAssertNil(Hex.decode("zz"), "non-hex characters must not decode")
    }

    func testBase64URLUsesURLAlphabetWithoutPadding() {
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff]), "-_8", "base64url must use - and _ and drop padding")
        XCTAssertEqual(Base64URL.decode("-_8"), [0xfb, 0xff], "base64url must decode unpadded input")
    }

    func testBase64URLRejectsStandardAlphabet() {
        XCTAssertNil(Base64URL.decode("+/8"), "base64url must reject + and / from standard base64")
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(ConstantTime.equals([1, 2, 3], [1, 2, 3]), "equal buffers compare unequal")
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2, 4]), "buffers differing in the last byte compare equal")
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2]), "buffers of different lengths compare equal")
        XCTAssertTrue(ConstantTime.equals([], []), "two empty buffers compare unequal")
    }

    func testZeroClearsBuffer() {
        var secret: [UInt8] = Array("hunter2".utf8)
        ConstantTime.zero(&secret)
        XCTAssertEqual(secret, [UInt8](repeating: 0, count: 7), "ConstantTime.zero left key bytes behind")
    }

    func testStreamingHMACMatchesOneShotAcrossPieces() {
        let key = Array("It's a Secret to Everybody".utf8)
        let message = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let stream = HMACSHA256.Stream(key: key)
        var offset = 0
        for size in [1, 0, 63, 64, 65, 4096] + Array(repeating: 1000, count: 10) where offset < message.count {
            let end = min(message.count, offset + size)
            message[offset..<end].withUnsafeBytes { stream.update($0) }
            offset = end
        }
        message[offset...].withUnsafeBytes { stream.update($0) }
        XCTAssertEqual(stream.finalize(), HMACSHA256.mac(key: key, message: message),
                       "the streamed HMAC must equal the one-shot HMAC of the same bytes")
    }

    func testStreamingHMACWithLongKeyMatchesOneShot() {
        let key = [UInt8](repeating: 0xaa, count: 131)  // longer than the block: hashed first (RFC 4231 case 6)
        let message = Data("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        let stream = HMACSHA256.Stream(key: key)
        message.withUnsafeBytes { stream.update($0) }
        XCTAssertEqual(Hex.encode(stream.finalize()), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                       "streamed HMAC-SHA256 disagrees with RFC 4231 test case 6")
    }
}
