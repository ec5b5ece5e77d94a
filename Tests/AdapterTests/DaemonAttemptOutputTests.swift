import XCTest
import Foundation
import Glibc
@testable import Adapter
@testable import HTTP
import Sandbox
@testable import Supervisor

/// `GET /api/tasks/{id}/attempts/{n}/output`: errors, finished and running attempts,
/// following to the end, the bound on streams, redaction of what arrives in pieces.
/// The attempt "runs" in the store (claimed) and its output file is written by the test,
/// registered as the attempt runner registers a sandbox's.
final class DaemonAttemptOutputTests: XCTestCase {
    static let secret = "s3cr3t-token-of-this-attempt"

    final class RunningAttempt {
        let f: DaemonRouteFixture
        let id: String
        let number: Int
        let stdoutPath: String
        let handle: FileHandle
        let redactor = Redactor(secrets: [DaemonAttemptOutputTests.secret])

        init(_ f: DaemonRouteFixture, id: String = "t_out") throws {
            self.f = f
            self.id = id
            XCTAssertEqual(try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: id)).status, 201)
            number = try XCTUnwrap(try f.store.claimNext(globalLimit: 10, perInstallationLimit: 10)).attempt
            stdoutPath = f.dir + "/\(id).stdout"
            FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            FileManager.default.createFile(atPath: f.dir + "/\(id).stderr", contents: nil)
            handle = try XCTUnwrap(FileHandle(forWritingAtPath: stdoutPath))
            f.supervisor.runner.liveOutputs.register(taskID: id, attempt: number, stdout: stdoutPath,
                                                     stderr: f.dir + "/\(id).stderr", redactor: redactor)
        }

        func write(_ text: String) { handle.write(Data(text.utf8)) }

        /// As the runner ends an attempt: output complete, then recorded with its tails.
        func finish() throws {
            f.supervisor.runner.liveOutputs.unregister(taskID: id, attempt: number)
            let all = try Data(contentsOf: URL(fileURLWithPath: stdoutPath))
            try f.store.recordAttempt(taskID: id, attempt: number,
                                      AttemptEnd(report: ExitReport(exitClass: .exited(code: 0)),
                                                 outcome: AttemptOutcome(attemptClass: .failed, disposition: .failure, reason: "done"),
                                                 stdout: redactor.redact(all), stderr: redactor.redact(Data("err\n".utf8))),
                                      retry: RetryPolicy(maxRetries: 0))
        }

        var path: String { "/api/tasks/\(id)/attempts/\(number)/output" }
    }

    /// A raw GET of the output stream; the head is read, the body left to the caller.
    func openStream(_ f: DaemonRouteFixture, _ path: String) throws -> (RawClient, RawResponse?) {
        let c = try RawClient(port: f.server.port)
        c.send("GET \(path) HTTP/1.1\r\nHost: coven\r\nAuthorization: Bearer api-token-for-tests\r\n\r\n")
        return (c, c.readResponse())
    }

    func testBadRequestsAreRefused() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        // (path, status)
        let cases: [(String, Int)] = [
            ("/api/tasks/t_out/attempts/1/output?stream=stdin", 400),
            ("/api/tasks/t_out/attempts/1/output?follow=yes", 400),
            ("/api/tasks/t_out/attempts/0/output", 400),
            ("/api/tasks/t_out/attempts/one/output", 400),
            ("/api/tasks/t_none/attempts/1/output", 404),
            ("/api/tasks/t_out/attempts/2/output", 404),
        ]
        for (path, status) in cases {
            let r = try f.api("GET", path)
            XCTAssertEqual(r.status, status, "\(path): \(r.text ?? "")")
            XCTAssertEqual(r.json["ok"] as? Bool, false, "\(path): errors are JSON")
        }
        try a.finish()
    }

    func testOutputNeedsTheToken() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        XCTAssertEqual(try f.api("GET", a.path, token: nil).status, 401)
        try a.finish()
    }

    func testFinishedAttemptGivesItsStoredTails() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        a.write("line one\nkey \(Self.secret)\n")
        try a.finish()
        for (stream, expected) in [("stdout", "line one\nkey \(Redactor.marker)\n"), ("stderr", "err\n")] {
            let r = try f.api("GET", a.path + "?stream=\(stream)")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, expected, "\(stream): the stored tail")
            XCTAssertEqual(r.headers["Content-Type"], "text/plain; charset=utf-8")
            XCTAssertEqual(r.headers["X-Coven-Attempt-State"], "finished")
        }
    }

    func testRunningAttemptWithoutFollowGivesWhatThereIsAndEnds() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        a.write("so far\n")
        let r = try f.api("GET", a.path)
        XCTAssertEqual(r.text, "so far\n", "what the attempt wrote until now, then the end")
        XCTAssertEqual(r.headers["X-Coven-Attempt-State"], "running")
        try a.finish()
    }

    func testFollowStreamsUntilTheAttemptEnds() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        a.write("first\n")
        let (c, head) = try openStream(f, a.path + "?follow=1")
        XCTAssertEqual(head?.headers["Transfer-Encoding"], "chunked")
        XCTAssertTrue(c.readUntil(suffix: "first\n\r\n"), "what was there is sent at once: \(c.leftover)")
        a.write("second\n")
        XCTAssertTrue(c.readUntil(suffix: "second\n\r\n"), "what the attempt writes is sent while it runs: \(c.leftover)")
        a.write("last\n")
        try a.finish()
        XCTAssertTrue(c.readUntil(suffix: "0\r\n\r\n"), "the stream must end with the attempt: \(c.leftover)")
        XCTAssertTrue(c.leftover.contains("last\n"), "the attempt's last bytes are included: \(c.leftover)")
    }

    func testASecretSplitAcrossTwoWritesIsRedacted() throws {
        let f = try DaemonRouteFixture()
        let a = try RunningAttempt(f)
        let half = Self.secret.count / 2
        a.write("before " + Self.secret.prefix(half))
        let (c, _) = try openStream(f, a.path + "?follow=1")
        XCTAssertTrue(c.readUntil(suffix: "before \r\n"), "the text before the secret goes out: \(c.leftover)")
        a.write(Self.secret.dropFirst(half) + " after\n")
        try a.finish()
        XCTAssertTrue(c.readUntil(suffix: "0\r\n\r\n"))
        let body = c.leftover
        XCTAssertFalse(body.contains(String(Self.secret.prefix(half))), "the first half leaked: \(body)")
        XCTAssertFalse(body.contains(String(Self.secret.dropFirst(half))), "the second half leaked: \(body)")
        XCTAssertTrue(body.contains(Redactor.marker + " after\n"), body)
    }

    func testStreamsAreBoundedAnd503sCarryRetryAfter() throws {
        let f = try DaemonRouteFixture(outputStreams: 1)
        let a = try RunningAttempt(f)
        let (first, head) = try openStream(f, a.path + "?follow=1")
        XCTAssertEqual(head?.status, 200)
        let second = try f.api("GET", a.path + "?follow=1")
        XCTAssertEqual(second.status, 503, "past the bound: \(second.text ?? "")")
        XCTAssertNotNil(second.headers["Retry-After"], "a 503 says when to come back")
        try a.finish()
        XCTAssertTrue(first.readUntil(suffix: "0\r\n\r\n"))
        XCTAssertTrue(eventually(timeout: 5) { f.taskAPI.output.openStreams == 0 }, "an ended stream gives its place back")
        XCTAssertEqual(try f.api("GET", a.path).status, 200, "the place is free again")
    }
}
