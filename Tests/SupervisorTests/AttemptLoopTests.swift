import XCTest
import Foundation
@testable import Supervisor
import Sandbox
import Adapter
@testable import HTTP

/// The attempt loop end to end: real sandboxes, a real git smart-HTTP server,
/// a real SQLite store. One row of the classification table per test.
final class AttemptLoopTests: XCTestCase {
    var fx: AttemptLoopFixture!

    override func setUpWithError() throws {
        fx = try AttemptLoopFixture()
    }

    override func tearDown() {
        fx = nil
    }

    func testCloneCommitAndPushThroughAskpassCompletesSuccess() throws {
        let d = try fx.run(mode: "ok")
        XCTAssertEqual(d.record.state, .completed, "final reason: \(d.record.finalReason ?? "-"); attempts: \(d.attempts.map { $0.note ?? "" }) stderr: \(d.attempts.first?.stderr.text ?? "")")
        XCTAssertEqual(d.record.disposition, .success)
        XCTAssertEqual(d.attempts.count, 1, "a completed attempt is never retried")
        XCTAssertNotNil(fx.git.head(of: "acme/widget", branch: "coven/fix-1"), "the runtime's push did not reach the server")
        XCTAssertEqual(d.record.result?.branch, "coven/fix-1")
    }

    func testExitOneWithValidResultCompletesAsFailureWithoutRetry() throws {
        let d = try fx.run(mode: "exit1", maxRetries: 2)
        XCTAssertEqual(d.record.state, .completed)
        XCTAssertEqual(d.record.disposition, .failure)
        XCTAssertEqual(d.attempts.count, 1, "exit 1 with a valid result is never retried")
    }

    func testExitThreeNeedsInputIsActionRequired() throws {
        let d = try fx.run(mode: "needs-input", maxRetries: 2)
        XCTAssertEqual(d.record.state, .completed)
        XCTAssertEqual(d.record.disposition, .actionRequired)
        XCTAssertEqual(d.attempts.count, 1)
    }

    func testExitCodeContradictingStatusIsNotedAndExitCodeDecides() throws {
        let d = try fx.run(mode: "exit3-success")
        XCTAssertEqual(d.record.disposition, .actionRequired, "exit 3 decides over status success")
        XCTAssertTrue((d.attempts.first?.note ?? "").contains("mismatch"), "expected a mismatch note, got \(d.attempts.first?.note ?? "nil")")
    }

    func testTheTaskRecordNamesTheSyscallsSeccompRefused() throws {
        let d = try fx.run(mode: "refused")
        XCTAssertEqual(d.attempts.first?.exitReport?.deniedSyscalls, ["unshare": 1], "the stored exit report counts the denial")
        let json = String(decoding: TaskJSON.data(d), as: UTF8.self)
        XCTAssertTrue(json.contains("\"denied_syscalls\""), "the task record shows it: \(json.prefix(800))")
    }

    func testExitTwoForeverIsRetriedToTheBudgetThenFails() throws {
        let d = try fx.run(mode: "exit2", maxRetries: 2)
        XCTAssertEqual(d.attempts.count, 3, "max_retries 2 means three runs")
        XCTAssertEqual(d.record.state, .failed)
        XCTAssertTrue(d.attempts.allSatisfy { $0.classification == .retrySafe })
    }

    func testExitZeroWithoutResultIsRetried() throws {
        let d = try fx.run(mode: "no-result", maxRetries: 1)
        XCTAssertEqual(d.attempts.count, 2, "a missing result is retry-safe")
        XCTAssertEqual(d.record.state, .failed)
        XCTAssertTrue((d.record.finalReason ?? "").contains("no result"), "the reason should say which violation: \(d.record.finalReason ?? "nil")")
    }

    func testOtherExitCodeIsRetrySafe() throws {
        let d = try fx.run(mode: "exit5", maxRetries: 1)
        XCTAssertEqual(d.attempts.count, 2)
        XCTAssertEqual(d.attempts.first?.classification, .retrySafe)
    }

    func testTimeoutIsRetrySafeAndReportedTimedOut() throws {
        let d = try fx.run(mode: "sleep", maxRetries: 1, timeout: .seconds(2))
        XCTAssertEqual(d.attempts.count, 2)
        XCTAssertEqual(d.attempts.first?.exitReport?.exitClass, .timedOut)
        XCTAssertEqual(d.record.state, .failed)
    }

    func testMissingRuntimeFailsAtOnce() throws {
        let t = fx.task()
        let store = try TaskStore(path: fx.dir + "/state/missing.db")
        let sup = try fx.supervisor(store: store, mode: "ok", maxRetries: 2, runtime: ["/opt/fake/no-such-runtime"])
        try sup.submit(t)
        try sup.start()
        let d = try XCTUnwrap(sup.waitForFinalState(taskID: t.id, timeout: .seconds(120)))
        sup.shutdown()
        XCTAssertEqual(d.attempts.count, 1, "retrying cannot help a missing runtime")
        XCTAssertEqual(d.record.state, .failed)
        XCTAssertTrue((d.record.finalReason ?? "").contains("not found"), d.record.finalReason ?? "nil")
    }

    func testSymlinkedResultIsRejected() throws {
        try assertRejected(mode: "symlink", contains: "symlink")
    }

    func testOversizedResultIsRejected() throws {
        try assertRejected(mode: "huge", contains: "large")
    }

    func testWrongContractVersionIsRejected() throws {
        try assertRejected(mode: "wrong-version", contains: "version")
    }

    func testMalformedResultIsRejected() throws {
        try assertRejected(mode: "malformed", contains: "JSON")
    }

    func testResultWithUnknownKeyIsRejected() throws {
        try assertRejected(mode: "extra-key", contains: "token")
    }

    func assertRejected(mode: String, contains word: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let d = try fx.run(mode: mode)
        XCTAssertEqual(d.record.state, .failed, "a \(mode) result must not complete the task", file: file, line: line)
        XCTAssertEqual(d.attempts.first?.classification, .retrySafe, file: file, line: line)
        let why = (d.attempts.first?.note ?? "") + " " + (d.record.finalReason ?? "")
        XCTAssertTrue(why.lowercased().contains(word.lowercased()), "the violation should be named (\(word)): \(why)", file: file, line: line)
    }

    func testWrongTokenFailsTheCloneAsRetrySafe() throws {
        let d = try fx.run(mode: "ok", maxRetries: 1, token: "ghs_" + String(repeating: "wrong", count: 7))
        XCTAssertEqual(d.attempts.count, 2, "a clone failure is infra: retried")
        XCTAssertEqual(d.attempts.first?.classification, .retrySafe)
        XCTAssertTrue((d.record.finalReason ?? "").contains("clone"), d.record.finalReason ?? "nil")
        XCTAssertNil(fx.git.head(of: "acme/widget", branch: "coven/fix-1"))
    }

    func testTokenAppearsNowhereButTheAskpassAnswer() throws {
        let d = try fx.run(mode: "leak-probe")
        XCTAssertEqual(d.record.state, .completed, d.record.finalReason ?? "")
        XCTAssertNotNil(fx.git.head(of: "acme/widget", branch: "coven/probe"), "the probe must have pushed with the token")
        let out = d.attempts.first?.stdout.text ?? ""
        func decoded(_ tag: String) -> String {
            guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix(tag + " ") }),
                  let data = Data(base64Encoded: String(line.dropFirst(tag.count + 1))) else { return "<missing \(tag)>" }
            return String(decoding: data, as: UTF8.self)
        }
        for tag in ["ENVIRON", "GITCONFIG", "BRIEF", "REMOTE", "ARGV"] {
            let text = decoded(tag)
            XCTAssertFalse(text.hasPrefix("<missing"), "probe output \(tag) missing: \(out)")
            XCTAssertFalse(text.contains(fx.token), "the token leaked into \(tag)")
        }
        XCTAssertFalse(decoded("REMOTE").contains("@"), "the remote URL must carry no credentials")
        // The store file (and its WAL) never holds it either.
        for f in try FileManager.default.contentsOfDirectory(atPath: fx.dir + "/state") where f.hasPrefix("coven") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: fx.dir + "/state/" + f))
            XCTAssertNil(bytes.range(of: Data(fx.token.utf8)), "the token is in the store file \(f)")
        }
        XCTAssertFalse((d.record.result.map { "\($0)" } ?? "").contains(fx.token))
        XCTAssertFalse(fx.log.text.isEmpty, "the supervisor logged nothing to check")
        XCTAssertFalse(fx.log.text.contains(fx.token), "the token reached the supervisor's log")
    }

    func testSecretsTheRuntimeWritesIntoItsResultAreRedactedBeforeTheyAreStored() throws {
        let daemonSecret = "hook-secret-for-redaction-tests"
        let shaped = FakeToken.make("ghp_")
        let d = try fx.run(mode: "result-leak", arguments: [shaped, daemonSecret], redactedSecrets: [daemonSecret])
        XCTAssertEqual(d.record.state, .completed, d.record.finalReason ?? "")
        let stored = [d.record.result, d.attempts.first?.result].map { r in r.map { "\($0)" } ?? "<none>" }
        XCTAssertTrue(stored.allSatisfy { $0.contains("token [REDACTED]") }, "the runtime did write a redacted token: \(stored)")
        for (what, secret) in [("the attempt's git token", fx.token), ("a token shape", shaped), ("the daemon's secret", daemonSecret)] {
            XCTAssertFalse(stored.contains { $0.contains(secret) }, "\(what) is in the stored result: \(stored)")
            for f in try FileManager.default.contentsOfDirectory(atPath: fx.dir + "/state") where f.hasPrefix("coven") {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: fx.dir + "/state/" + f))
                XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(what) is in the store file \(f)")
            }
        }
    }
}
