import XCTest
import Foundation
@testable import Adapter
import Supervisor
import PostgresStore
import StoreTesting

/// `/metrics` of a fleet host (a shared PostgreSQL store): every sample says which host
/// it is from, and the fleet's running attempts are shown per host.
final class DaemonMetricsFleetTests: XCTestCase {
    func testEverySampleOfASharedStoreHasTheHostLabelFirst() throws {
        let conninfo = try PostgresTestServer.shared.createDatabase()
        let h1 = TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: "h1", poolSize: 2))
        let h2 = TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: "h2", poolSize: 2))
        try h1.insert([StoreMigrationTests.spec("t1", installation: 1), StoreMigrationTests.spec("t2", installation: 2)])
        XCTAssertNotNil(try h2.claimNext(globalLimit: 5, perInstallationLimit: 5))

        let text = DaemonMetrics().render(store: h1)
        let lines = text.split(separator: "\n").map(String.init)
        let sample = try NSRegularExpression(pattern:
            #"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{host="([^"\\]*)"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\} (-?[0-9.e+]+|\+Inf|NaN)$"#)
        var typed: Set<String> = [], seen: Set<String> = []
        for line in lines {
            if line.hasPrefix("# TYPE ") { typed.insert(String(line.split(separator: " ")[2])); continue }
            if line.hasPrefix("# HELP ") { continue }
            let range = NSRange(line.startIndex..., in: line)
            guard let m = sample.firstMatch(in: line, range: range) else { XCTFail("not a host-labelled sample: \(line)"); continue }
            let name = String(line[Range(m.range(at: 1), in: line)!])
            let family = typed.first { name == $0 || name.hasPrefix($0 + "_") }
            XCTAssertNotNil(family, "\(name) has no # TYPE before it")
            let series = String(line[..<line.lastIndex(of: " ")!])
            XCTAssertTrue(seen.insert(series).inserted, "a series twice: \(series)")
            if !name.hasPrefix("coven_fleet_") {
                XCTAssertEqual(String(line[Range(m.range(at: 2), in: line)!]), "h1", line)
            }
        }
        XCTAssertTrue(lines.contains(#"coven_store_up{host="h1"} 1"#), text)
        XCTAssertTrue(lines.contains(#"coven_tasks{host="h1",state="running"} 1"#), text)
        XCTAssertTrue(lines.contains(#"coven_sandbox_launch_seconds_bucket{host="h1",le="+Inf"} 0"#), text)
        XCTAssertTrue(lines.contains(#"coven_host_info{host="h1",store="postgres"} 1"#), text)
        XCTAssertTrue(lines.contains(#"coven_fleet_attempts_running{host="h2"} 1"#), text)
        XCTAssertTrue(lines.contains(#"coven_fleet_attempts_running{host="h1"} 0"#), "this host is listed with none: \(text)")
    }

    func testASQLiteStoreHasNoHostLabels() throws {
        let dir = NSTemporaryDirectory() + "coven-metrics-fleet-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = DaemonMetrics().render(store: try TaskStore(stateDirectory: dir))
        XCTAssertFalse(text.contains("host="), text)
        XCTAssertFalse(text.contains("coven_fleet_"), text)
        XCTAssertTrue(text.contains("\ncoven_store_up 1\n"), text)
    }
}
