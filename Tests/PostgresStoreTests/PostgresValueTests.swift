import Foundation
import PostgresStore
import Supervisor
import XCTest

/// Every SQLValue kind goes to the server as a parameter and comes back unchanged.
final class PostgresValueTests: XCTestCase {
    private var db: PostgresConnection!

    override func setUpWithError() throws {
        db = try freshConnection().0
        try db.exec("CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA)", step: "schema")
    }

    private func roundTrip(_ value: SQLValue, column: String) throws -> SQLValue {
        try db.run("DELETE FROM v")
        try db.run("INSERT INTO v (\(column)) VALUES (?)", [value])
        return try db.scalar("SELECT \(column) FROM v")
    }

    func testInt64ExtremesRoundTrip() throws {
        for i: Int64 in [.min, -1, 0, 1, .max] {
            XCTAssertEqual(try roundTrip(.int(i), column: "i"), .int(i), "BIGINT \(i) did not come back as itself")
        }
    }

    func testDoublesRoundTripExactly() throws {
        for d in [1733345678.123456, 0.1, -0.0, 1e-300, 5e-324, Double.greatestFiniteMagnitude, 1.0 / 3.0] {
            guard case .double(let back) = try roundTrip(.double(d), column: "d") else {
                return XCTFail("DOUBLE PRECISION \(d) did not come back as a double")
            }
            XCTAssertEqual(back.bitPattern, d.bitPattern, "double \(d) came back as \(back)")
        }
    }

    func testInfinityAndNaNRoundTrip() throws {
        XCTAssertEqual(try roundTrip(.double(.infinity), column: "d"), .double(.infinity), "+Infinity was not kept")
        XCTAssertEqual(try roundTrip(.double(-.infinity), column: "d"), .double(-.infinity), "-Infinity was not kept")
        guard case .double(let nan) = try roundTrip(.double(.nan), column: "d") else { return XCTFail("NaN is not a double") }
        XCTAssertTrue(nan.isNaN, "NaN came back as \(nan)")
    }

    func testUnicodeTextRoundTrips() throws {
        let s = "naïve — 日本語 🧪 'quoted' \"double\" \\ back\nline"
        XCTAssertEqual(try roundTrip(.text(s), column: "t"), .text(s), "unicode text was changed on the way")
    }

    func testBlobWithZeroAndFFBytesRoundTrips() throws {
        let blob = Data([0x00, 0xFF, 0x00, 0x5C, 0x78, 0x27, 0xFF, 0x00])
        XCTAssertEqual(try roundTrip(.blob(blob), column: "b"), .blob(blob), "bytea lost or changed bytes")
        XCTAssertEqual(try roundTrip(.blob(Data()), column: "b"), .blob(Data()), "an empty bytea is not an empty blob")
    }

    func testNullRoundTripsInEveryColumnType() throws {
        for column in ["i", "d", "t", "b"] {
            XCTAssertEqual(try roundTrip(.null, column: column), .null, "NULL in column \(column) came back as a value")
        }
    }

    func testResultTypesDecodeByColumnType() throws {
        let row = try XCTUnwrap(db.query("SELECT 7::int2 AS a, 8::int4 AS b, 2.5::numeric AS c, 1.5::real AS d, true AS e, false AS f, now() AS g").first)
        XCTAssertEqual(row["a"], .int(7), "int2 is not an int")
        XCTAssertEqual(row["b"], .int(8), "int4 is not an int")
        XCTAssertEqual(row["c"], .double(2.5), "numeric is not a double")
        XCTAssertEqual(row["d"], .double(1.5), "real is not a double")
        XCTAssertEqual(row["e"], .int(1), "true is not 1")
        XCTAssertEqual(row["f"], .int(0), "false is not 0")
        guard case .text(let g) = row["g"] else { return XCTFail("a timestamptz is not text: \(row["g"])") }
        XCTAssertTrue(g.hasSuffix("+00"), "the session's time zone is not UTC: \(g)")
    }

    func testBindableSwiftTypesBind() throws {
        let row = try XCTUnwrap(db.query("SELECT ? AS i, ? AS b, ? AS s, ? AS n", [42, true, "x", Optional<Int>.none]).first)
        XCTAssertEqual(row["i"], .int(42), "Int did not bind as int8")
        XCTAssertEqual(row["b"], .int(1), "Bool did not bind as 1")
        XCTAssertEqual(row["s"], .text("x"), "String did not bind as text")
        XCTAssertEqual(row["n"], .null, "nil did not bind as NULL")
    }
}
