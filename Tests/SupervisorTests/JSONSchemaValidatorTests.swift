import XCTest
@testable import Supervisor

final class JSONSchemaValidatorTests: XCTestCase {
    private func errors(_ schema: String, _ instance: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let v = try JSONSchemaValidator(schemaString: schema)
        return v.validate(Data(instance.utf8))
    }

    func testTypeArrayAcceptsNull() throws {
        XCTAssertEqual(try errors(#"{"type":["string","null"]}"#, "null"), [], "null must satisfy type [string, null]")
    }

    func testTypeArrayRejectsOtherTypes() throws {
        let e = try errors(#"{"type":["string","null"]}"#, "5")
        XCTAssertEqual(e, ["/: expected string or null, found integer"], "a number must not satisfy type [string, null]")
    }

    func testIntegerRejectsFraction() throws {
        XCTAssertFalse(try errors(#"{"type":"integer"}"#, "1.5").isEmpty, "1.5 is not an integer")
        XCTAssertEqual(try errors(#"{"type":"integer"}"#, "2.0"), [], "2.0 is an integer in JSON Schema")
    }

    func testConst() throws {
        XCTAssertEqual(try errors(#"{"const":"1"}"#, #""2""#), [#"/: must be "1""#], "const mismatch must be reported")
    }

    func testEnumIncludingNull() throws {
        let s = #"{"type":["string","null"],"enum":["a",null]}"#
        XCTAssertEqual(try errors(s, "null"), [], "null is in the enum")
        XCTAssertFalse(try errors(s, #""b""#).isEmpty, "\"b\" is not in the enum")
    }

    func testRequired() throws {
        XCTAssertEqual(try errors(#"{"type":"object","required":["a"]}"#, "{}"), [#"/: missing required property "a""#])
    }

    func testAdditionalPropertiesFalseNamesTheKeyAndPath() throws {
        let s = #"{"type":"object","properties":{"o":{"type":"object","additionalProperties":false,"properties":{"x":{}}}}}"#
        XCTAssertEqual(try errors(s, #"{"o":{"x":1,"y":2}}"#), [#"/o: unexpected property "y""#])
    }

    func testItemsPathHasIndex() throws {
        XCTAssertEqual(try errors(#"{"type":"array","items":{"type":"string"}}"#, #"["a",3]"#), ["/1: expected string, found integer"])
    }

    func testMinimum() throws {
        XCTAssertEqual(try errors(#"{"type":"integer","minimum":0}"#, "-1"), ["/: must be >= 0"])
    }

    func testNotPattern() throws {
        let s = #"{"type":"string","not":{"pattern":"@"}}"#
        XCTAssertEqual(try errors(s, #""https://x-access-token:t@github.com/a/b""#), [#"/: must not match pattern "@""#])
        XCTAssertEqual(try errors(s, #""https://github.com/a/b""#), [], "a URL without '@' must pass")
    }

    func testOneOfNoneMatching() throws {
        let s = #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#
        XCTAssertEqual(try errors(s, "true").count, 1, "no alternative matches: one error")
    }

    func testOneOfMoreThanOneMatching() throws {
        let s = #"{"oneOf":[{"type":"number"},{"type":"integer"}]}"#
        XCTAssertEqual(try errors(s, "3"), ["/: matches 2 of the oneOf alternatives, exactly one allowed"])
    }

    func testUnsupportedKeywordIsRefused() {
        XCTAssertThrowsError(try JSONSchemaValidator(schemaString: #"{"type":"object","patternProperties":{}}"#),
                             "a keyword the validator does not implement must make init throw")
    }

    func testIfThenElse() throws {
        let s = #"{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"required":["b"]}}"#
        XCTAssertFalse(try errors(s, #"{"a":1}"#).isEmpty, "then must apply when if holds")
        XCTAssertEqual(try errors(s, #"{"a":2}"#), [], "then must not apply when if fails")
    }

    func testMalformedInstanceIsOneError() throws {
        XCTAssertEqual(try errors(#"{}"#, "{").count, 1)
    }
}

final class JSONParserTests: XCTestCase {
    func testDuplicateKeysAreRejected() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"a":1,"a":2}"#), "duplicate keys must be an error")
    }

    func testDeepNestingIsRejectedWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertThrowsError(try JSONValue.parse(deep), "deep nesting must be an error, not a stack overflow")
    }

    func testTrailingGarbageIsRejected() {
        XCTAssertThrowsError(try JSONValue.parse("{} x"))
    }

    func testLoneSurrogateIsRejected() {
        XCTAssertThrowsError(try JSONValue.parse(#""\ud800""#))
    }

    func testInvalidUTF8IsRejected() {
        XCTAssertThrowsError(try JSONValue.parse(Data([0x22, 0xFF, 0x22])))
    }

    func testEscapesAndSurrogatePairsDecode() throws {
        XCTAssertEqual(try JSONValue.parse(#""a\n\u00e9\ud83e\udd84""#), .string("a\né🦄"))
    }

    func testNumbers() throws {
        XCTAssertEqual(try JSONValue.parse("-1.5e2"), .number(-150))
        XCTAssertThrowsError(try JSONValue.parse("01"), "leading zeros are not JSON")
    }
}

final class ContractSchemaTests: XCTestCase {
    func testEmbeddedSessionBriefSchemaEqualsSharedFile() throws {
        let dir = try Fixtures.requireSharedContracts()
        let file = try String(contentsOfFile: dir + "/session-brief.schema.json", encoding: .utf8)
        XCTAssertEqual(try JSONValue.parse(ContractSchemas.sessionBriefV1), try JSONValue.parse(file),
                       "ContractSchemas.sessionBriefV1 differs from shared/contracts/v1/session-brief.schema.json: re-embed it")
        XCTAssertEqual(ContractSchemas.sessionBriefV1 + "\n", file, "embedded copy is not byte-identical")
    }

    func testEmbeddedResultSchemaEqualsSharedFile() throws {
        let dir = try Fixtures.requireSharedContracts()
        let file = try String(contentsOfFile: dir + "/result.schema.json", encoding: .utf8)
        XCTAssertEqual(try JSONValue.parse(ContractSchemas.resultV1), try JSONValue.parse(file),
                       "ContractSchemas.resultV1 differs from shared/contracts/v1/result.schema.json: re-embed it")
        XCTAssertEqual(ContractSchemas.resultV1 + "\n", file, "embedded copy is not byte-identical")
    }

    func testEmbeddedSchemasUseOnlySupportedKeywords() {
        XCTAssertNoThrow(try JSONSchemaValidator(schemaString: ContractSchemas.sessionBriefV1))
        XCTAssertNoThrow(try JSONSchemaValidator(schemaString: ContractSchemas.resultV1))
    }
}
