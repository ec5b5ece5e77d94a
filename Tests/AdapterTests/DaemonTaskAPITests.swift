import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor

/// The task API over real sockets: closed without a token, bearer auth, submit, get,
/// list, cancel.
final class DaemonTaskAPITests: XCTestCase {
    func testNoTokenConfiguredMeansClosed() throws {
        let f = try DaemonRouteFixture(apiToken: nil)
        for (method, path) in [("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/tasks/t_1"), ("POST", "/api/tasks/t_1/cancel")] {
            let r = try f.api(method, path, token: "anything", body: method == "POST" ? DaemonRouteFixture.taskJSON() : nil)
            XCTAssertEqual(r.status, 403, "\(method) \(path) must be closed when no token is configured: \(r.text ?? "")")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains("task API disabled"), r.text ?? "")
        }
        XCTAssertEqual(try f.store.list().count, 0, "a closed API creates nothing")
    }

    func testWrongTokenIs401() throws {
        let f = try DaemonRouteFixture()
        let r = try f.api("POST", "/api/tasks", token: "api-token-for-tests-but-wrong", body: DaemonRouteFixture.taskJSON())
        XCTAssertEqual(r.status, 401)
        XCTAssertNotNil(r.headers["WWW-Authenticate"], "401 names the scheme")
        XCTAssertEqual(try f.store.list().count, 0, "an unauthorized submit creates nothing")
    }

    func testMissingTokenIs401() throws {
        let f = try DaemonRouteFixture()
        XCTAssertEqual(try f.api("GET", "/api/tasks", token: nil).status, 401)
    }

    func testSubmitStoresTheTaskAndAnswers201WithItsID() throws {
        let f = try DaemonRouteFixture()
        let r = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_api_1"))
        XCTAssertEqual(r.status, 201, r.text ?? "")
        XCTAssertEqual(r.json["task_id"] as? String, "t_api_1")
        XCTAssertEqual(r.headers["Location"], "/api/tasks/t_api_1")
        let d = try XCTUnwrap(try f.store.task(id: "t_api_1"))
        XCTAssertEqual(d.record.state, .queued)
        XCTAssertEqual(d.record.spec.source, .api)
    }

    func testSubmitWithoutIDGetsAFreshOne() throws {
        let f = try DaemonRouteFixture()
        let r = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON())
        XCTAssertEqual(r.status, 201, r.text ?? "")
        let id = try XCTUnwrap(r.json["task_id"] as? String)
        XCTAssertNotNil(try f.store.task(id: id))
    }

    func testSubmitRefusesInvalidTasks() throws {
        let f = try DaemonRouteFixture()
        let missing = try f.api("POST", "/api/tasks", body: #"{"repo": {"owner": "a"}}"#)
        XCTAssertEqual(missing.status, 400, "a task without its fields is refused")
        XCTAssertTrue((missing.json["error"] as? String ?? "").contains("missing key"), missing.text ?? "")
        let creds = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(cloneURL: "https://x-access-token:ghs_abc@example.invalid/a/b.git"))
        XCTAssertEqual(creds.status, 400, "a clone URL with credentials is refused at the door")
        XCTAssertFalse(creds.text?.contains("ghs_abc") ?? true, "the refusal does not echo the credentials")
        XCTAssertEqual(try f.store.list().count, 0)
    }

    func testSubmitSameIDTwiceIs409() throws {
        let f = try DaemonRouteFixture()
        XCTAssertEqual(try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_twice")).status, 201)
        XCTAssertEqual(try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_twice")).status, 409)
    }

    func testGetReturnsTheTaskRecord() throws {
        let f = try DaemonRouteFixture()
        _ = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_get"))
        let r = try f.api("GET", "/api/tasks/t_get")
        XCTAssertEqual(r.status, 200, r.text ?? "")
        XCTAssertEqual(r.json["id"] as? String, "t_get")
        XCTAssertEqual(r.json["state"] as? String, "queued")
        XCTAssertNotNil(r.json["attempts"] as? [Any], "the record lists its attempts")
        XCTAssertEqual(try f.api("GET", "/api/tasks/t_nope").status, 404)
    }

    func testListFiltersByState() throws {
        let f = try DaemonRouteFixture()
        _ = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_a"))
        _ = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_b"))
        _ = try f.api("POST", "/api/tasks/t_a/cancel")
        let all = try f.api("GET", "/api/tasks")
        XCTAssertEqual((all.json["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["t_b", "t_a"], "newest first")
        let queued = try f.api("GET", "/api/tasks?state=queued")
        XCTAssertEqual((queued.json["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["t_b"])
        XCTAssertEqual(try f.api("GET", "/api/tasks?state=bogus").status, 400, "an unknown state is refused")
    }

    func testCancelQueuedTaskThenAgain() throws {
        let f = try DaemonRouteFixture()
        _ = try f.api("POST", "/api/tasks", body: DaemonRouteFixture.taskJSON(id: "t_cancel"))
        let r = try f.api("POST", "/api/tasks/t_cancel/cancel")
        XCTAssertEqual(r.status, 200, r.text ?? "")
        XCTAssertEqual(r.json["state"] as? String, "cancelled")
        XCTAssertEqual(try f.store.task(id: "t_cancel")?.record.state, .cancelled)
        XCTAssertEqual(try f.api("POST", "/api/tasks/t_cancel/cancel").status, 409, "cancelling a finished task is a conflict")
        XCTAssertEqual(try f.api("POST", "/api/tasks/t_none/cancel").status, 404)
    }

    func testUnauthorizedSubmitIsRefusedBeforeItsBodyIsSent() throws {
        let f = try DaemonRouteFixture()
        let client = try RawClient(port: f.server.port)
        client.send("POST /api/tasks HTTP/1.1\r\nHost: coven\r\nAuthorization: Bearer wrong\r\nContent-Length: 20000000\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 401, "a wrong token must be answered from the head, without waiting for the body")
    }
}
