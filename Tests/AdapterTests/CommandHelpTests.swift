import XCTest
import Foundation

/// Every command's `--help`, from the binaries: generated from its option table, it lists
/// what the command parses and fits a terminal.
final class CommandHelpTests: XCTestCase {
    static var products: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }

    static let commands: [[String]] = [
        ["sandbox", "exec"], ["run-task"], ["serve"], ["doctor"],
        ["tasks", "list"], ["tasks", "show"], ["tasks", "logs"], ["tasks", "cancel"], ["tasks", "retry"], ["tasks", "submit"],
        ["store", "migrate"],
    ]

    func run(_ args: [String]) throws -> (status: Int32, out: String) {
        try runToEnd(Self.products.appendingPathComponent("coven-supervisor").path, args)
    }

    func testEveryCommandHasAHelpThatFitsEightyColumns() throws {
        for c in Self.commands {
            let r = try run(c + ["--help"])
            XCTAssertEqual(r.status, 0, "\(c.joined(separator: " ")) --help must succeed")
            XCTAssertTrue(r.out.hasPrefix("usage: coven-supervisor \(c.joined(separator: " "))"), "\(c): \(r.out.prefix(200))")
            for line in r.out.split(separator: "\n") where line.count > 80 {
                XCTFail("\(c.joined(separator: " ")) --help has a line over 80 columns: \(line)")
            }
        }
    }

    func testAnUnknownOptionIsAUsageErrorEverywhere() throws {
        let usage: [String: Int32] = ["sandbox": 125, "run-task": 2, "serve": 2, "doctor": 2, "tasks": 2, "store": 2]
        for c in Self.commands {
            let r = try run(c + ["--no-such-option"])
            XCTAssertEqual(r.status, usage[c[0]], "\(c.joined(separator: " ")) --no-such-option must exit with its usage status")
        }
    }
}
