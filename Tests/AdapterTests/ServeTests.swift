import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor

/// The real `coven-supervisor serve` binary, as `make run` starts it: local mode on a
/// free loopback port, the demo task through the task API into a real sandbox with the
/// bundled example runtime, then SIGTERM and a clean exit.
final class ServeTests: XCTestCase {
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-supervisor").path
    }

    /// A port nothing listens on right now (bound and released).
    static func freePort() throws -> UInt16 {
        let probe = HTTPServer(host: "127.0.0.1", port: 0) { _ in .text(200, "") }
        let port = try probe.start()
        probe.shutdown()
        return port
    }

    final class Daemon {
        let process = Process()
        let dir: String
        let port: UInt16
        var state: String { dir + "/state" }
        var base: String { "http://127.0.0.1:\(port)" }

        init(args: [String] = []) throws {
            dir = NSTemporaryDirectory() + "coven-serve-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o755)
            port = try ServeTests.freePort()
            process.executableURL = URL(fileURLWithPath: ServeTests.binary)
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--state-dir", dir + "/state"] + args
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            _ = FileManager.default.createFile(atPath: dir + "/stdout", contents: nil)
            _ = FileManager.default.createFile(atPath: dir + "/stderr", contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stdout"))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stderr"))
            try process.run()
        }

        var stdout: String { (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? "" }

        /// Waits for the process to exit (bounded); nil when it is still running.
        func waitForExit(timeout: TimeInterval) -> Int32? {
            _ = eventually(timeout: timeout) { !process.isRunning }
            return process.isRunning ? nil : process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    func testLocalModeRunsTheDemoTaskAndStopsCleanlyOnSIGTERM() throws {
        let d = try Daemon()
        let client = HTTPClient(keepAlive: false)
        let up = eventually(timeout: 60, interval: 0.1) {
            d.process.isRunning && (try? client.get(d.base + "/healthz", timeout: 2))?.status == 200
        }
        XCTAssertTrue(up, "serve did not answer /healthz: \(d.stderr)")
        guard up else { return }
        XCTAssertTrue(d.stdout.contains("curl"), "serve prints how to submit the demo task: \(d.stdout)")

        let token = try String(contentsOfFile: d.state + "/api-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var mode = stat()
        XCTAssertEqual(stat(d.state + "/api-token", &mode), 0)
        XCTAssertEqual(mode.st_mode & 0o777, 0o600, "the API token file is private")
        let demo = try Data(contentsOf: URL(fileURLWithPath: d.state + "/demo-task.json"))
        let auth: HTTPHeaders = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]
        let submitted = try client.post(d.base + "/api/tasks", body: demo, headers: auth)
        XCTAssertEqual(submitted.status, 201, "submitting the demo task: \(submitted.text ?? "")")
        let id = try XCTUnwrap(submitted.json["task_id"] as? String)

        var last: [String: Any] = [:]
        let finished = eventually(timeout: 120, interval: 0.2) {
            last = (try? client.get(d.base + "/api/tasks/\(id)", headers: auth))?.json ?? [:]
            return ["completed", "failed", "cancelled"].contains(last["state"] as? String ?? "")
        }
        XCTAssertTrue(finished, "the demo task did not finish: \(last)\n\(d.stderr)")
        XCTAssertEqual(last["state"] as? String, "completed", "the demo task completes: \(last)\n\(d.stderr)")
        XCTAssertEqual(last["disposition"] as? String, "success")
        let result = last["result"] as? [String: Any]
        XCTAssertEqual(result?["branch"] as? String, "coven/\(id)", "the example runtime pushed its branch")
        let pushed = try git(["--git-dir", d.state + "/git/demo/hello.git", "rev-parse", "--verify", "-q", "refs/heads/coven/\(id)"])
        XCTAssertEqual(pushed, (result?["commits"] as? [[String: Any]])?.first?["sha"] as? String,
                       "the demo repository has the branch at the reported commit")

        // Local mode runs attempts in proxy mode: the clone and the push went through the
        // egress proxy to the daemon's listener, by the pinned name, and nowhere else.
        XCTAssertTrue(String(decoding: demo, as: UTF8.self).contains("http://\(LocalMode.sandboxHostName):\(d.port)/git/"),
                      "the demo clone URL names the listener as sandboxes reach it")
        let egress = ((last["attempts"] as? [[String: Any]])?.first?["egress"] as? [String: Any])?["connections"] as? [[String: Any]] ?? []
        XCTAssertFalse(egress.isEmpty, "the attempt's egress log has the git requests: \(last)")
        for c in egress {
            XCTAssertEqual(c["host"] as? String, LocalMode.sandboxHostName)
            XCTAssertEqual(c["port"] as? Int, Int(d.port))
            XCTAssertEqual(c["outcome"] as? String, "allowed", "\(c)")
        }

        let metrics = try client.get(d.base + "/metrics").text ?? ""
        XCTAssertTrue(metrics.contains("coven_egress_connections_total{outcome=\"allowed\"} \(egress.count)"), metrics)
        XCTAssertTrue(metrics.contains("coven_egress_proxies_active 0"), "the attempt's proxy is gone: \(metrics)")
        XCTAssertTrue(metrics.contains("coven_attempts_total{class=\"completed\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("coven_sandbox_launch_seconds_count 1"), "launch latency observed: \(metrics)")
        XCTAssertTrue(metrics.contains("coven_attempt_duration_seconds_count 1"), "attempt duration observed: \(metrics)")

        XCTAssertEqual(kill(d.process.processIdentifier, SIGTERM), 0)
        let status = d.waitForExit(timeout: 60)
        XCTAssertEqual(status, 0, "serve exits 0 after SIGTERM: \(d.stderr)")
        XCTAssertTrue(d.stderr.contains("\"event\":\"stopped\""), "the shutdown is logged: \(d.stderr)")
    }

    func testBadConfigFailsAtStartNamingTheKey() throws {
        let dir = NSTemporaryDirectory() + "coven-serve-cfg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"state_dir": "state", "worker": {"runtime": ["/bin/true"], "timeout": "abc"}}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--config", dir + "/config.json"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2, "a refused config stops the start")
        XCTAssertTrue(text.contains(#"config: worker.timeout: "abc" is not a duration"#), text)
    }

    func git(_ args: [String]) throws -> String {
        try runToEnd("/usr/bin/git", args).out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
