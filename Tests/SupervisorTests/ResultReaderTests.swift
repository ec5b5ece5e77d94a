import XCTest
import Foundation
@testable import Supervisor

final class ResultReaderTests: XCTestCase {
    static let valid = #"""
    {"contract_version":"1","status":"success","branch":"cody/fix","commits":[{"sha":"abc","message":"m"}],
     "files_changed":["a.rs"],"summary":"s","pr_body":"b","exit_reason":null}
    """#

    private func write(_ text: String, _ name: String = "result.json") throws -> String {
        let path = try Fixtures.tempDir(self) + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func violation(_ r: Result<ResultEnvelope, ContractViolation>, file: StaticString = #filePath, line: UInt = #line) -> ContractViolation? {
        if case .failure(let v) = r { return v }
        XCTFail("expected a violation, got a valid result", file: file, line: line)
        return nil
    }

    func testValidResultIsRead() throws {
        let r = ResultReader.read(path: try write(Self.valid))
        XCTAssertEqual(try r.get(), ResultEnvelope(status: .success, branch: "cody/fix",
                                                   commits: [.init(sha: "abc", message: "m")], filesChanged: ["a.rs"],
                                                   summary: "s", prBody: "b"))
    }

    func testResultWithoutContractVersionIsAccepted() throws {
        let r = ResultReader.read(path: try write(#"{"status":"failure","commits":[],"files_changed":[],"summary":"s","pr_body":"","exit_reason":"test_failure"}"#))
        XCTAssertEqual(try r.get().exitReason, .testFailure)
    }

    func testSymlinkIsAViolation() throws {
        let target = try write(Self.valid)
        let link = (target as NSString).deletingLastPathComponent + "/link.json"
        XCTAssertEqual(symlink(target, link), 0)
        let v = violation(ResultReader.read(path: link))
        XCTAssertEqual(v?.name, "result_is_symlink")
        XCTAssertEqual(v?.message, "result is a symlink")
    }

    func testFifoIsAViolationAndDoesNotBlock() throws {
        let path = try Fixtures.tempDir(self) + "/fifo.json"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertEqual(violation(ResultReader.read(path: path))?.name, "result_not_regular_file")
    }

    func testDirectoryIsAViolation() throws {
        let path = try Fixtures.tempDir(self) + "/dir.json"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        XCTAssertEqual(violation(ResultReader.read(path: path))?.name, "result_not_regular_file")
    }

    func testOversizedResultIsAViolation() throws {
        // Valid JSON padded with whitespace to 1 MiB + 1: only the size is wrong.
        let body = Self.valid
        let padded = body + String(repeating: " ", count: ResultReader.maxBytes + 1 - body.utf8.count)
        XCTAssertEqual(padded.utf8.count, ResultReader.maxBytes + 1)
        XCTAssertEqual(violation(ResultReader.read(path: try write(padded)))?.name, "result_too_large")
    }

    func testExactlyOneMiBIsAccepted() throws {
        let body = Self.valid
        let padded = body + String(repeating: " ", count: ResultReader.maxBytes - body.utf8.count)
        XCTAssertNoThrow(try ResultReader.read(path: try write(padded)).get(), "1 MiB exactly is within the limit")
    }

    func testMalformedJSONIsAViolation() throws {
        XCTAssertEqual(violation(ResultReader.read(path: try write(#"{"status": "success","#)))?.name, "malformed_json")
    }

    func testWrongVersionIsAViolation() throws {
        let text = Self.valid.replacingOccurrences(of: #""contract_version":"1""#, with: #""contract_version":"2""#)
        let v = violation(ResultReader.read(path: try write(text)))
        XCTAssertEqual(v?.name, "unsupported_contract_version")
        XCTAssertTrue(v?.message.contains("unsupported contract_version") ?? false, v?.message ?? "")
    }

    func testMissingFileIsAViolation() throws {
        let v = violation(ResultReader.read(path: try Fixtures.tempDir(self) + "/absent.json"))
        XCTAssertEqual(v?.name, "no_result_file")
        XCTAssertEqual(v?.message, "no result file")
    }

    func testExtraKeyIsASchemaViolation() throws {
        let text = Self.valid.replacingOccurrences(of: #""summary":"s""#, with: #""summary":"s","token":"x""#)
        let v = violation(ResultReader.read(path: try write(text)))
        XCTAssertEqual(v?.name, "schema_violation")
        XCTAssertEqual(v?.details, [#"/: unexpected property "token""#])
    }

    func testUnknownStatusIsASchemaViolation() throws {
        let text = Self.valid.replacingOccurrences(of: #""status":"success""#, with: #""status":"done""#)
        XCTAssertEqual(violation(ResultReader.read(path: try write(text)))?.name, "schema_violation")
    }

    func testDuplicateKeyIsMalformed() throws {
        let text = Self.valid.replacingOccurrences(of: #""summary":"s""#, with: #""summary":"s","summary":"t""#)
        XCTAssertEqual(violation(ResultReader.read(path: try write(text)))?.name, "malformed_json")
    }

    func testReadAtDirectoryFDRefusesSymlink() throws {
        let target = try write(Self.valid)
        let dir = (target as NSString).deletingLastPathComponent
        XCTAssertEqual(symlink(target, dir + "/link.json"), 0)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dfd) }
        XCTAssertEqual(violation(ResultReader.read(directoryFD: dfd, name: "link.json"))?.name, "result_is_symlink")
        XCTAssertNoThrow(try ResultReader.read(directoryFD: dfd, name: "result.json").get())
    }
}

/// Checks what we emit and accept against the shared contract files (skipped when
/// shared/ is absent). `make conformance` runs these.
final class ConformanceContractTests: XCTestCase {
    private func fileValidator(_ name: String, _ version: String = "v1") throws -> JSONSchemaValidator {
        let dir = try Fixtures.requireSharedContracts(version)
        return try JSONSchemaValidator(schemaData: try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
    }

    func testFixIssueBriefMatchesSharedSchema() throws {
        let data = try SessionBrief(task: Fixtures.fixIssue(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(try fileValidator("session-brief.schema.json").validate(data), [])
    }

    func testReviewCommentBriefMatchesSharedSchema() throws {
        let data = try SessionBrief(task: Fixtures.reviewComment(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(try fileValidator("session-brief.schema.json").validate(data), [])
    }

    func testMentionBriefMatchesSharedSchema() throws {
        let data = try SessionBrief(task: Fixtures.mention(), workspaceRoot: "/workspace").jsonData()
        XCTAssertEqual(try fileValidator("session-brief.schema.json").validate(data), [])
    }

    func testGoldenBriefMatchesSharedSchemaAndDecodes() throws {
        let dir = try Fixtures.requireSharedContracts()
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/session-brief.example.json"))
        XCTAssertEqual(try fileValidator("session-brief.schema.json").validate(data), [])
        let brief = try JSONDecoder().decode(SessionBrief.self, from: data)
        XCTAssertEqual(try JSONValue.parse(brief.jsonData()), try JSONValue.parse(data),
                       "decoding and re-encoding the golden brief must give the same document")
    }

    func testGoldenResultIsAccepted() throws {
        let dir = try Fixtures.requireSharedContracts()
        let r = ResultReader.read(path: dir + "/result.example.json")
        XCTAssertEqual(try r.get().status, .success)
        XCTAssertEqual(try r.get().commits.count, 1)
    }

    func testV2GoldenResultIsRefusedAsUnsupportedVersion() throws {
        let dir = try Fixtures.requireSharedContracts("v2")
        guard case .failure(let v) = ResultReader.read(path: dir + "/result.example.json") else {
            return XCTFail("a v2 result must not be accepted by the v1 reader")
        }
        XCTAssertEqual(v.name, "unsupported_contract_version")
    }

    func testV2SchemasAreUnderstoodByTheValidator() throws {
        // Not implemented by the supervisor, but the validator should read them (if/then, allOf).
        let dir = try Fixtures.requireSharedContracts("v2")
        let v = try fileValidator("result.schema.json", "v2")
        XCTAssertEqual(v.validate(try Data(contentsOf: URL(fileURLWithPath: dir + "/result.example.json"))), [])
    }
}
