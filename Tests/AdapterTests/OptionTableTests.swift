import XCTest
@testable import CovenCommands

/// The option table every command parses with: both spellings of a value, operands,
/// `--`, the rest-of-line option, and the usage errors.
final class OptionTableTests: XCTestCase {
    struct S: Sendable, Equatable {
        var name: String?
        var verbose = false
        var operands: [String] = []
        var rest: [String]?
    }

    static let table = OptionTable<S>(
        usage: ["t [options] ARG..."], about: "A test command.",
        options: [
            .value("--name", metavar: "N", help: "a value") { $0.name = $1 },
            .flag("-v", "--verbose", help: "a flag") { $0.verbose = true },
            .rest("--run", metavar: "CMD...", help: "everything after it") { $0.rest = $1 },
        ],
        operands: .each("ARG") { $0.operands.append($1) })

    static let accepted: [(args: [String], expected: S)] = [
        (["--name", "a"], S(name: "a")),
        (["--name=a=b"], S(name: "a=b")),
        (["-v", "x", "y"], S(verbose: true, operands: ["x", "y"])),
        (["x", "--verbose"], S(verbose: true, operands: ["x"])),
        (["--", "--name", "-v"], S(operands: ["--name", "-v"])),
        (["--run", "sh", "-c", "--name"], S(rest: ["sh", "-c", "--name"])),
        (["-"], S(operands: ["-"])),
    ]

    func testAcceptedArgumentsSetTheirFields() throws {
        for c in Self.accepted {
            var s = S()
            XCTAssertEqual(try Self.table.parse(c.args, into: &s), .run, "\(c.args)")
            XCTAssertEqual(s, c.expected, "\(c.args) parsed wrongly")
        }
    }

    static let refused: [(args: [String], message: String)] = [
        (["--nope"], "unknown option '--nope'"),
        (["--name"], "--name needs a value"),
        (["--verbose=yes"], "--verbose takes no value"),
        (["--nope=1"], "unknown option '--nope'"),
    ]

    func testRefusedArgumentsSayWhy() {
        for c in Self.refused {
            var s = S()
            XCTAssertThrowsError(try Self.table.parse(c.args, into: &s), "\(c.args) must be refused") { error in
                XCTAssertEqual((error as? CLI.UsageError)?.message, c.message, "\(c.args)")
            }
        }
    }

    func testHelpWinsWhereverItComesBeforeTheOperands() throws {
        for args in [["--help"], ["-h"], ["--name", "a", "--help"]] {
            var s = S()
            XCTAssertEqual(try Self.table.parse(args, into: &s), .help, "\(args)")
        }
    }

    func testAnOperandWhereNoneIsAllowedIsRefused() {
        let none = OptionTable<S>(usage: ["t"], about: "", options: [])
        var s = S()
        XCTAssertThrowsError(try none.parse(["stray"], into: &s)) { e in
            XCTAssertEqual((e as? CLI.UsageError)?.message, "unexpected argument 'stray'")
        }
    }

    func testACommandOperandTakesTheRestVerbatim() throws {
        let t = OptionTable<S>(usage: ["t"], about: "", options: [.flag("-v", help: "") { $0.verbose = true }],
                               operands: .command("CMD") { $0.operands = $1 })
        var s = S()
        _ = try t.parse(["-v", "ls", "-v", "--x"], into: &s)
        XCTAssertEqual(s, S(verbose: true, operands: ["ls", "-v", "--x"]), "options after the command belong to it")
    }

    func testHelpIsGeneratedFromTheTable() {
        let help = Self.table.help
        XCTAssertTrue(help.hasPrefix("usage: t [options] ARG...\n"), help)
        XCTAssertTrue(help.contains("  --name N                a value\n"), "each option with its metavar and help:\n\(help)")
        XCTAssertTrue(help.contains("  -v, --verbose           a flag\n"), "aliases on one line:\n\(help)")
        XCTAssertTrue(help.contains("  -h, --help              show this help\n"), "help is always listed:\n\(help)")
    }
}
