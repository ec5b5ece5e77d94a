import XCTest
@testable import Adapter

/// What counts as `@bot <verb>`: the comment's first prose words.
final class MaintainerCommandParsingTests: XCTestCase {
    func testCommandWords() {
        let cases: [(body: String, word: String?)] = [
            ("@coven-cody fix", "fix"),
            ("@Coven-Cody RETRY", "retry"),
            ("@coven-cody[bot] status", "status"),
            ("@coven-cody: cancel", "cancel"),
            ("  @coven-cody help\nthanks", "help"),
            ("@coven-cody fix this, the test fails", "fix"),
            ("@coven-cody deploy", "deploy"),                       // unknown, stands alone
            ("@coven-cody please rename the variable", nil),          // a sentence: a mention
            ("please @coven-cody fix", nil),                          // not the first token
            ("`@coven-cody fix`", nil),                               // code
            ("> @coven-cody fix", nil),                               // quote
            ("@coven-codyx fix", nil),                                // someone else
            ("@coven-cody", nil),                                     // no verb
        ]
        for c in cases {
            XCTAssertEqual(MaintainerCommand.commandWord(body: c.body, handle: "coven-cody"), c.word, "body: \(c.body)")
        }
    }
}
