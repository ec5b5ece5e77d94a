import Foundation
import XCTest

/// docs/operations.md lists every log event; operators grep and alert on those names, so
/// the list and the code must agree both ways.
final class LogEventsDocumentationTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Event names the code logs: the literal first argument of a log call
    /// (`log("x"`, `log.event("x"`, `emit("x"`, `onPublished?("x"`).
    static func loggedEvents() throws -> Set<String> {
        let pattern = try NSRegularExpression(pattern: #"(?:\blog|\.event|\bemit|onPublished\?)\(\s*"([a-z_]+)""#)
        var names = Set<String>()
        let sources = repoRoot.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let url = files?.nextObject() as? URL {
            guard url.pathExtension == "swift", !url.path.contains("/AdapterTesting/") else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        return names
    }

    /// Event names in the first column of the "Log events" table.
    static func documentedEvents() throws -> Set<String> {
        let doc = try String(contentsOf: repoRoot.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        guard let start = doc.range(of: "\n## Log events\n") else { return [] }
        let section = doc[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var names = Set<String>()
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(3).prefix { $0 != "`" }
            names.insert(String(cell))
        }
        return names
    }

    func testTheSourcesAreFound() throws {
        XCTAssertGreaterThan(try Self.loggedEvents().count, 20,
                             "the scan of Sources/ found almost no log calls; the pattern or the path is wrong")
    }

    func testEveryLoggedEventIsDocumented() throws {
        let missing = try Self.loggedEvents().subtracting(Self.documentedEvents())
        XCTAssertEqual(missing, [], "logged but missing from the Log events table in docs/operations.md: \(missing.sorted())")
    }

    func testEveryDocumentedEventIsLogged() throws {
        let documented = try Self.documentedEvents()
        XCTAssertFalse(documented.isEmpty, "docs/operations.md has no Log events table")
        let stale = documented.subtracting(try Self.loggedEvents())
        XCTAssertEqual(stale, [], "listed in docs/operations.md but logged nowhere: \(stale.sorted())")
    }
}
