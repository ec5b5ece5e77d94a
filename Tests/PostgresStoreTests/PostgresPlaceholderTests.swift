import PostgresStore
import Supervisor
import XCTest

/// SQLite's `?` / `?N` become `$N`; what only looks like one is left alone.
final class PostgresPlaceholderTests: XCTestCase {
    func testSequentialQuestionMarksAreNumbered() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT ?, ?, ?"), "SELECT $1, $2, $3")
    }

    func testNumberedPlaceholdersKeepTheirNumbers() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT ?2, ?1, ?2"), "SELECT $2, $1, $2")
    }

    func testBareQuestionMarkAfterNumberedTakesNextAfterLargest() {
        // SQLite: a `?` is one more than the largest number so far.
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT ?3, ?, ?1, ?"), "SELECT $3, $4, $1, $5")
    }

    func testQuestionMarkInStringLiteralIsLeftAlone() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT 'why?', 'it''s ?', ?"), "SELECT 'why?', 'it''s ?', $1")
    }

    func testQuestionMarkInQuotedIdentifierIsLeftAlone() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT 1 AS \"a?\"\"b\", ?"), "SELECT 1 AS \"a?\"\"b\", $1")
    }

    func testQuestionMarkInCommentsIsLeftAlone() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT ? -- really?\n, /* ok? /* nested? */ ? */ ?"),
                       "SELECT $1 -- really?\n, /* ok? /* nested? */ ? */ $2")
    }

    func testEscapeStringAndDollarQuotesAreLeftAlone() {
        XCTAssertEqual(PostgresPlaceholders.rewrite("SELECT E'a\\'?', $$b?$$, $t$c?$t$, ?"),
                       "SELECT E'a\\'?', $$b?$$, $t$c?$t$, $1")
    }

    func testRewrittenSQLRunsWithLiteralQuestionMarkIntact() throws {
        let (db, _) = try freshConnection()
        let row = try XCTUnwrap(db.query("SELECT 'what?' AS lit, ?2 AS two, ?1 AS one, ? AS three", [1, 2, 3]).first)
        XCTAssertEqual(row["lit"], .text("what?"), "the literal's ? was touched")
        XCTAssertEqual(row["one"], .int(1), "?1 did not bind the first parameter")
        XCTAssertEqual(row["two"], .int(2), "?2 did not bind the second parameter")
        XCTAssertEqual(row["three"], .int(3), "the ? after ?2 did not bind the third parameter")
    }
}
