// Router: matching, parameters, 404/405, HEAD fallback, error mapping.
import Foundation
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPRouterTests: HTTPTestCase {

    private func request(_ method: String, _ target: String) -> HTTPRequest {
        HTTPRequest(method: method, target: target, headers: ["Host": "x"])
    }

    private func taskRouter() -> Router {
        var router = Router()
        router.get("/api/tasks") { _ in .text(200, "list") }
        router.get("/api/tasks/{id}") { .text(200, "task \($0.parameter("id") ?? "?")") }
        router.delete("/api/tasks/{id}") { .text(200, "deleted \($0.parameter("id") ?? "?")") }
        router.get("/api/tasks/stats") { _ in .text(200, "stats") }
        router.post("/api/repos/{owner}/{name}/runs") { req in
            .text(201, "\(req.parameter("owner") ?? "?")/\(req.parameter("name") ?? "?")")
        }
        return router
    }

    func testUnknownPathGets404() {
        let response = taskRouter().handle(request("GET", "/nope"))
        XCTAssertEqual(response.status, 404, "a path no pattern matches must get 404")
    }

    func testWrongMethodGets405WithAllow() {
        let response = taskRouter().handle(request("POST", "/api/tasks/7"))
        XCTAssertEqual(response.status, 405, "a matching path with an unregistered method must get 405")
        XCTAssertEqual(response.headers["Allow"], "DELETE, GET, HEAD", "Allow must list the path's methods")
    }

    func testParameterIsCaptured() {
        let response = taskRouter().handle(request("GET", "/api/tasks/42"))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "task 42")
    }

    func testSeveralParametersAreCaptured() {
        let response = taskRouter().handle(request("POST", "/api/repos/acme/widgets/runs"))
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "acme/widgets")
    }

    func testParameterIsPercentDecodedWithinItsSegment() {
        let response = taskRouter().handle(request("GET", "/api/tasks/a%2Fb%20c"))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "task a/b c",
                       "an encoded slash must stay inside the parameter")
    }

    func testLiteralSegmentBeatsParameter() {
        let response = taskRouter().handle(request("GET", "/api/tasks/stats"))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "stats",
                       "/api/tasks/stats must win over /api/tasks/{id}")
    }

    func testQueryDoesNotAffectMatching() {
        let response = taskRouter().handle(request("GET", "/api/tasks/9?verbose=1"))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "task 9")
    }

    func testEmptySegmentDoesNotMatchParameter() {
        XCTAssertEqual(taskRouter().handle(request("GET", "/api/tasks/")).status, 404,
                       "a parameter must not match an empty segment")
    }

    func testHeadFallsBackToGet() {
        XCTAssertEqual(taskRouter().handle(request("HEAD", "/api/tasks")).status, 200,
                       "HEAD must be served by the GET route")
    }

    func testInvalidPercentEscapeGets400() {
        XCTAssertEqual(taskRouter().handle(request("GET", "/api/tasks/%zz")).status, 400)
    }

    func testThrownHTTPErrorKeepsStatus() {
        var router = Router()
        router.get("/x") { _ in throw HTTPError(409, "conflict") }
        XCTAssertEqual(router.handle(request("GET", "/x")).status, 409)
    }

    func testThrownOtherErrorGets500() {
        struct Oops: Error {}
        var router = Router()
        router.get("/x") { _ in throw Oops() }
        XCTAssertEqual(router.handle(request("GET", "/x")).status, 500)
    }

    func testRouterServesOverTheWire() throws {
        let router = taskRouter()
        let server = HTTPServer(limits: Self.testLimits, handler: router.handle)
        try server.start()
        addTeardownBlock { server.shutdown() }
        let client = HTTPClient()
        XCTAssertEqual(try client.get(url(server, "/api/tasks/5")).text, "task 5")
        let wrongMethod = try client.request("PUT", url(server, "/api/tasks/5"), body: Data())
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.headers["Allow"], "DELETE, GET, HEAD")
        XCTAssertEqual(try client.get(url(server, "/missing")).status, 404)
    }
}
