import XCTest
import Foundation
import CSQLite
@testable import Adapter
@testable import HTTP
import Supervisor

/// `POST /webhook` over real sockets, with a real TaskStore: status codes, what is
/// stored (and what is not), redelivery, storage failure.
final class DaemonWebhookTests: XCTestCase {
    let assigned = WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]")

    func testMissingSignatureIs401AndStoresNothing() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "issues", delivery: "d-unsigned", body: assigned, signature: .some(nil))
        XCTAssertEqual(r.status, 401, "an unsigned delivery must be refused: \(r.text ?? "")")
        XCTAssertNil(try f.store.delivery(id: "d-unsigned"), "an unsigned delivery must not be recorded")
        XCTAssertEqual(try f.store.list().count, 0, "an unsigned delivery must not create a task")
        XCTAssertTrue(f.announced.isEmpty, "nothing may be announced to the supervisor")
    }

    func testWrongSignatureIs401AndStoresNothing() throws {
        let f = try DaemonRouteFixture()
        let forged = WebhookSignature.sign(body: Data(assigned.utf8), secret: Array("not the secret".utf8))
        let r = try f.deliver(event: "issues", delivery: "d-forged", body: assigned, signature: .some(forged))
        XCTAssertEqual(r.status, 401, "a delivery signed with another secret must be refused")
        XCTAssertNil(try f.store.delivery(id: "d-forged"), "a forged delivery must not be recorded")
        XCTAssertEqual(try f.store.list().count, 0, "a forged delivery must not create a task")
    }

    func testSignatureIsCheckedBeforeHeaders() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: nil, delivery: nil, body: "not json", signature: .some("sha256=" + String(repeating: "0", count: 64)))
        XCTAssertEqual(r.status, 401, "a bad signature must win over missing headers and bad JSON (nothing is looked at first)")
    }

    func testMissingEventHeaderIs400() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: nil, delivery: "d-noevent", body: assigned)
        XCTAssertEqual(r.status, 400, "X-GitHub-Event is required")
        XCTAssertTrue((r.json["error"] as? String ?? "").contains("X-GitHub-Event"), "the error names the header: \(r.text ?? "")")
        XCTAssertNil(try f.store.delivery(id: "d-noevent"))
    }

    func testMissingDeliveryHeaderIs400() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "issues", delivery: nil, body: assigned)
        XCTAssertEqual(r.status, 400, "X-GitHub-Delivery is required")
        XCTAssertTrue((r.json["error"] as? String ?? "").contains("X-GitHub-Delivery"), "the error names the header: \(r.text ?? "")")
        XCTAssertEqual(try f.store.list().count, 0)
    }

    func testInvalidJSONIs400() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "issues", delivery: "d-badjson", body: "{\"action\": \"assigned\",")
        XCTAssertEqual(r.status, 400, "a signed body that is not JSON is the sender's fault")
        XCTAssertNil(try f.store.delivery(id: "d-badjson"), "an unparseable delivery is not recorded")
    }

    func testPingAnswersPong() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "ping", delivery: "d-ping", body: WebhookFixtures.ping)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["ok"] as? Bool, true)
        XCTAssertEqual(r.json["pong"] as? Bool, true, "ping answers {\"ok\":true,\"pong\":true}: \(r.text ?? "")")
    }

    func testAssignedIssueIs202WithTaskStoredWithItsDelivery() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "issues", delivery: "d-assigned", body: assigned)
        XCTAssertEqual(r.status, 202, "a new task is accepted: \(r.text ?? "")")
        let id = try XCTUnwrap(r.json["task_id"] as? String, "the answer carries the task id")
        let detail = try XCTUnwrap(try f.store.task(id: id), "the task is in the store when the answer arrives")
        XCTAssertEqual(detail.record.state, .queued)
        XCTAssertEqual(detail.record.spec.source, .webhook(deliveryID: "d-assigned"))
        XCTAssertEqual(detail.record.spec.familiar.id, "cody")
        let delivery = try XCTUnwrap(try f.store.delivery(id: "d-assigned"), "the delivery is recorded with the task")
        XCTAssertEqual(delivery.outcome, .queued(taskID: id))
        XCTAssertEqual(delivery.payloadSHA256, WebhookEndpoint.sha256Hex(Data(assigned.utf8)), "the body's SHA-256 is kept, not the body")
        XCTAssertEqual(f.announced, [id], "the supervisor is woken for the new task")
    }

    func testRedeliveryIsDuplicateAndCreatesNothing() throws {
        let f = try DaemonRouteFixture()
        let first = try f.deliver(event: "issues", delivery: "d-again", body: assigned)
        XCTAssertEqual(first.status, 202)
        let second = try f.deliver(event: "issues", delivery: "d-again", body: assigned)
        XCTAssertEqual(second.status, 200, "a redelivery is acknowledged: \(second.text ?? "")")
        XCTAssertEqual(second.json["duplicate"] as? Bool, true, "and flagged as a duplicate")
        XCTAssertEqual(try f.store.list().count, 1, "a redelivery must not create a second task")
        XCTAssertEqual(f.announced.count, 1, "a redelivery must not wake the supervisor again")
    }

    func testIgnoredEventIs200WithReasonAndDeliveryRecorded() throws {
        let f = try DaemonRouteFixture()
        let r = try f.deliver(event: "issues", delivery: "d-opened", body: WebhookFixtures.issuesAction("opened"))
        XCTAssertEqual(r.status, 200)
        let reason = try XCTUnwrap(r.json["ignored"] as? String, "an ignored delivery says why: \(r.text ?? "")")
        XCTAssertTrue(reason.contains("opened"), reason)
        guard case .ignored? = try f.store.delivery(id: "d-opened")?.outcome else {
            return XCTFail("an ignored delivery is recorded as ignored (so a redelivery is a duplicate)")
        }
        XCTAssertEqual(try f.store.list().count, 0, "an ignored delivery creates no task")
    }

    func testStorageFailureIs500SoGitHubRetries() throws {
        let f = try DaemonRouteFixture(busyTimeout: 0.2)
        // Another connection holds the database's write lock, as a stuck second process would.
        var db: OpaquePointer?
        XCTAssertEqual(sqlite3_open(f.store.path, &db), SQLITE_OK)
        defer { sqlite3_close(db) }
        XCTAssertEqual(sqlite3_exec(db, "BEGIN EXCLUSIVE", nil, nil, nil), SQLITE_OK, "the test could not take the write lock")
        let r = try f.deliver(event: "issues", delivery: "d-locked", body: assigned)
        XCTAssertEqual(r.status, 500, "a delivery that could not be recorded must be answered 5xx so GitHub retries: \(r.text ?? "")")
        XCTAssertTrue(f.announced.isEmpty, "nothing is announced when nothing was stored")
        XCTAssertEqual(sqlite3_exec(db, "ROLLBACK", nil, nil, nil), SQLITE_OK)
        XCTAssertNil(try f.store.delivery(id: "d-locked"), "the failed delivery left no record")
        let retry = try f.deliver(event: "issues", delivery: "d-locked", body: assigned)
        XCTAssertEqual(retry.status, 202, "GitHub's retry succeeds once the store is back")
    }

    func testResponsesAreCountedByStatusInMetrics() throws {
        let f = try DaemonRouteFixture()
        _ = try f.deliver(event: "issues", delivery: "d-m1", body: assigned, signature: .some(nil))
        _ = try f.deliver(event: "issues", delivery: "d-m2", body: assigned)
        _ = try f.deliver(event: "issues", delivery: "d-m2", body: assigned)
        XCTAssertEqual(f.metrics.webhookResponseCount(status: 401), 1)
        XCTAssertEqual(f.metrics.webhookResponseCount(status: 202), 1)
        XCTAssertEqual(f.metrics.webhookResponseCount(status: 200), 1)
    }

    // MARK: - One validation for webhook and task API tasks

    var negativeIssue: String { assigned.replacingOccurrences(of: "\"number\": 42", with: "\"number\": -5") }

    func testDeliveryRoutingToAnInvalidTaskIs400AndStoresNothing() throws {
        let f = try DaemonRouteFixture()
        XCTAssertTrue(negativeIssue.contains("\"number\": -5"), "the fixture has the issue number to replace")
        let r = try f.deliver(event: "issues", delivery: "d-negative", body: negativeIssue)
        XCTAssertEqual(r.status, 400, "a delivery whose task no attempt could run must be refused, not queued: \(r.text ?? "")")
        XCTAssertTrue((r.json["error"] as? String ?? "").contains("issue_number"), "the error names the field: \(r.text ?? "")")
        XCTAssertNil(try f.store.delivery(id: "d-negative"), "a refused delivery is not recorded")
        XCTAssertEqual(try f.store.list().count, 0, "no task may be stored for it")
        XCTAssertTrue(f.announced.isEmpty, "nothing is announced")
    }

    func testWebhookAndTaskAPIRefuseAnInvalidTaskWithTheSameError() throws {
        let f = try DaemonRouteFixture()
        let hook = try f.deliver(event: "issues", delivery: "d-negative", body: negativeIssue)
        let task = DaemonRouteFixture.taskJSON().replacingOccurrences(of: "\"issue_number\": 7", with: "\"issue_number\": -5")
        let api = try f.api("POST", "/api/tasks", body: task)
        XCTAssertEqual(api.status, 400, "the task API refuses a negative issue number: \(api.text ?? "")")
        XCTAssertEqual(hook.json["error"] as? String, api.json["error"] as? String, "both ways in apply one validation")
    }

    // MARK: - The signature while the body streams in

    func testUnsignedDeliveryIsRefusedBeforeItsBodyIsSent() throws {
        let f = try DaemonRouteFixture()
        let client = try RawClient(port: f.server.port)
        client.send("POST /webhook HTTP/1.1\r\nHost: coven\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: d-early\r\nContent-Length: 20000000\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.status, 401, "without a signature header nothing of the body may be waited for or buffered")
        XCTAssertEqual(f.metrics.webhookResponseCount(status: 401), 1, "the early refusal is counted like any other")
    }

    func testSignedChunkedDeliveryIs202() throws {
        let f = try DaemonRouteFixture()
        let body = Data(assigned.utf8)
        let client = try RawClient(port: f.server.port)
        client.send(f.rawDeliveryHead(event: "issues", delivery: "d-chunked", body: body, framing: "Transfer-Encoding: chunked"))
        // Chunks as a reverse proxy might cut them: the MAC covers the decoded body.
        let half = body.count / 2
        for piece in [body[..<half], body[half...]] {
            client.send(String(piece.count, radix: 16) + "\r\n")
            client.send(Array(piece))
            client.send("\r\n")
        }
        client.send("0\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.status, 202, "a signed chunked delivery is verified over its decoded body and queued: \(response?.text ?? "")")
        XCTAssertNotNil(try f.store.delivery(id: "d-chunked"), "and recorded")
    }

    func testForgedChunkedDeliveryIs401() throws {
        let f = try DaemonRouteFixture()
        let body = Data(assigned.utf8)
        let forged = WebhookSignature.sign(body: body, secret: Array("not the secret".utf8))
        let client = try RawClient(port: f.server.port)
        client.send(f.rawDeliveryHead(event: "issues", delivery: "d-forged-chunked", body: body,
                                      framing: "Transfer-Encoding: chunked", signature: forged))
        client.send(String(body.count, radix: 16) + "\r\n")
        client.send(Array(body))
        client.send("\r\n0\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 401, "a chunked body signed with another secret must be refused")
        XCTAssertNil(try f.store.delivery(id: "d-forged-chunked"))
    }
}
