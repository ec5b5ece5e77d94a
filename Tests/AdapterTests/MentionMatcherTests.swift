import XCTest
@testable import Adapter

/// `MentionMatcher.mentions(body:handle:)`, table-driven.
final class MentionMatcherTests: XCTestCase {
    struct Case {
        let body: String
        let expected: Bool
        let why: String
        let line: UInt
        init(_ body: String, _ expected: Bool, _ why: String, line: UInt = #line) {
            self.body = body; self.expected = expected; self.why = why; self.line = line
        }
    }

    private func check(_ cases: [Case], handle: String = "cody") {
        for c in cases {
            XCTAssertEqual(MentionMatcher.mentions(body: c.body, handle: handle), c.expected,
                           "\(c.body.debugDescription) with handle \(handle): expected \(c.expected ? "a mention" : "no mention") (\(c.why))",
                           line: c.line)
        }
    }

    func testMentionsThatMatch() {
        check([
            Case("@cody", true, "whole body"),
            Case("@cody please fix", true, "at the start"),
            Case("hey @cody please fix", true, "after a space"),
            Case("hey\n@cody", true, "after a newline"),
            Case("hey\t@cody", true, "after a tab"),
            Case("(@cody)", true, "inside parentheses"),
            Case("thanks @cody.", true, "sentence end"),
            Case("@cody, please", true, "before a comma"),
            Case("@cody!", true, "before !"),
            Case("@cody?", true, "before ?"),
            Case("@cody: do it", true, "before a colon"),
            Case("@cody; then", true, "before a semicolon"),
            Case("\"@cody\"", true, "in double quotes"),
            Case("'@cody'", true, "in single quotes"),
            Case("[@cody]", true, "in brackets"),
            Case("cc:@cody", true, "after a colon"),
            Case("@cody\n", true, "before a newline"),
            Case("@cody.dev is not an address here", true, "a dot ends a handle, like GitHub"),
            Case("me@cody.dev and @cody", true, "a later real mention counts"),
        ])
    }

    func testNonMentions() {
        check([
            Case("", false, "empty body"),
            Case("cody", false, "no @"),
            Case("@codyx", false, "longer handle"),
            Case("@cody-2", false, "hyphen continues a login"),
            Case("@cody_x", false, "underscore continues an identifier"),
            Case("@cody/team", false, "team mention"),
            Case("@cody2", false, "digit continues a login"),
            Case("me@cody.dev", false, "e-mail address"),
            Case("x-@cody", false, "after a hyphen"),
            Case("x_@cody", false, "after an underscore"),
            Case("a/@cody", false, "after a slash"),
            Case("@@cody", false, "double @"),
            Case("`@cody`", false, "code span"),
            Case("@cod", false, "prefix of the handle"),
            Case("@ cody", false, "space after @"),
            Case("@codyé", false, "non-ASCII letter continues the word"),
            Case("ék@cody", false, "non-ASCII letter before @"),
        ])
    }

    func testMentionsInCodeOrQuotesDoNotCount() {
        check([
            Case("```\n@cody fix\n```", false, "fenced code block"),
            Case("~~~sh\n@cody\n~~~", false, "tilde fence"),
            Case("```\nstill open\n@cody", false, "an unclosed fence runs to the end"),
            Case("  ```\n@cody\n  ```", false, "a fence indented up to three spaces"),
            Case("text\n\n    @cody in code\n", false, "indented code block after a blank line"),
            Case("\t@cody", false, "tab-indented code block at the start"),
            Case("> @cody said this", false, "block quote"),
            Case("   > @cody", false, "indented block quote"),
            Case("see `x @cody` here", false, "inside a code span"),
            Case("see ``a ` @cody`` here", false, "inside a double-backtick code span"),
        ])
    }

    func testMentionsAroundCodeAndQuotesCount() {
        check([
            Case("```\ncode\n```\n@cody please", true, "after a closed fence"),
            Case("````\n```\n@cody\n````", false, "a shorter run does not close a longer fence"),
            Case("para\n    @cody continues it", true, "an indented line right after prose continues the paragraph"),
            Case("> quote\n\n@cody", true, "after a quote"),
            Case("`code` then @cody", true, "after a code span"),
            Case("an unmatched ` then @cody", true, "a lone backtick is text"),
            Case("```not a fence``` @cody", true, "backticks on one line are a code span, not a fence"),
        ])
    }

    func testMatchingIsCaseInsensitive() {
        check([
            Case("@Cody thanks", true, "capitalised"),
            Case("@CODY", true, "upper case"),
        ])
        check([Case("@cody", true, "configured handle in mixed case")], handle: "CoDy")
    }

    func testLiteralBotSuffixInTextMatches() {
        check([
            Case("@cody[bot] please", true, "literal [bot]"),
            Case("@cody[BOT].", true, "literal [BOT] then a dot"),
            Case("@cody[bot]x", false, "[bot] then a letter"),
        ])
    }

    func testConfiguredBotSuffixIsDropped() {
        check([
            Case("@cody fix it", true, "handle configured as cody[bot]"),
            Case("@cody[bot] fix it", true, "literal [bot] with handle cody[bot]"),
        ], handle: "cody[bot]")
    }

    func testHyphenatedHandle() {
        check([
            Case("@coven-cody can you look", true, "hyphenated handle"),
            Case("@coven-cody-2 can you look", false, "longer hyphenated handle"),
            Case("@coven can you look", false, "handle prefix before the hyphen"),
        ], handle: "coven-cody[bot]")
    }

    func testEmptyHandleNeverMatches() {
        check([Case("@ anything", false, "empty handle"), Case("@", false, "lone @")], handle: "")
        check([Case("@[bot]", false, "handle that is only [bot]")], handle: "[bot]")
    }
}
