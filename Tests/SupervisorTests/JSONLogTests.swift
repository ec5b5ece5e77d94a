import XCTest
import Foundation
@testable import Supervisor

/// The hand-written log line: valid JSON whatever the fields hold, with the time as
/// `ISO8601DateFormatter` writes it.
final class JSONLogTests: XCTestCase {
    private func parse(_ data: Data?) throws -> [String: String] {
        let data = try XCTUnwrap(data, "no line")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: String], "not a JSON object of strings")
    }

    func testFieldsWithQuotesBackslashesAndControlCharactersSurviveAsTheyWere() throws {
        let awkward = "a \"quoted\" \\ back\\slash, a\nnewline, a\ttab, a \u{1} and \u{1f}, /slash, ünï©ødé 🙂"
        let obj = try parse(JSONLog(component: "serve").line("x", ["field": awkward]))
        XCTAssertEqual(obj["field"], awkward)
    }

    func testTheTimeIsWrittenAsISO8601DateFormatterWritesIt() throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600.75)   // 2026-01-01T00:00:00.75Z
        let obj = try parse(JSONLog(component: "serve").line("x", [:], at: date))
        XCTAssertEqual(obj["ts"], ISO8601DateFormatter().string(from: date))
    }

    func testKeysAreSorted() throws {
        let line = String(decoding: try XCTUnwrap(JSONLog(component: "c").line("e", ["zeta": "1", "alpha": "2"])), as: UTF8.self)
        let keys = ["alpha", "component", "event", "ts", "zeta"].map { line.range(of: "\"\($0)\":")?.lowerBound }
        XCTAssertFalse(keys.contains(nil), "every key is there: \(line)")
        XCTAssertEqual(keys.compactMap { $0 }, keys.compactMap { $0 }.sorted(), "keys in order: \(line)")
    }
}
