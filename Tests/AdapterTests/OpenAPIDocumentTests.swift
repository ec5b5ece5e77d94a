import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor

/// docs/openapi.json describes exactly the routes the daemon serves, and is the document
/// the daemon serves at /api/openapi.json.
final class OpenAPIDocumentTests: DaemonAssemblyTestCase {
    static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]

    var document: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8))) as? [String: Any] ?? [:]
    }

    /// "METHOD /path" for every operation in the document.
    var documentedRoutes: Set<String> {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return Set(paths.flatMap { path, item in
            item.keys.filter { Self.methods.contains($0) }.map { "\($0.uppercased()) \(path)" }
        })
    }

    func testTheDocumentIsOpenAPI31() {
        XCTAssertEqual(document["openapi"] as? String, "3.1.0", "the embedded document must parse and declare OpenAPI 3.1")
    }

    /// A daemon with everything on: the task API (with its token) and so the dashboard.
    func fullDaemon() throws -> Daemon {
        try "openapi-test-token\n".write(toFile: dir + "/api-token", atomically: true, encoding: .utf8)
        return try Daemon(config: config(tokenPath: dir + "/api-token"), options: quietOptions())
    }

    func testTheDocumentedRoutesAreTheRoutersRoutes() throws {
        let daemon = try fullDaemon()
        let served = Set(daemon.routes).subtracting(OpenAPIDocument.undocumentedRoutes)
        XCTAssertEqual(documentedRoutes.subtracting(served), [], "documented but not served")
        XCTAssertEqual(served.subtracting(documentedRoutes), [],
                       "served but not in the OpenAPI document (document it, or list it in OpenAPIDocument.undocumentedRoutes)")
    }

    func testEveryDeliberatelyUndocumentedRouteExists() throws {
        let daemon = try fullDaemon()
        let stale = OpenAPIDocument.undocumentedRoutes.filter {
            !daemon.routes.contains($0) && !$0.split(separator: " ")[1].hasPrefix(LocalMode.gitMount + "/")
        }
        XCTAssertEqual(stale, [], "listed as undocumented, but no such route (local mode's git routes aside)")
    }

    func testDocsOpenAPIJSONIsTheServedDocument() throws {
        let file = try String(contentsOfFile: LogEventsDocumentationTests.repoRoot.path + "/docs/openapi.json", encoding: .utf8)
        XCTAssertEqual(file, OpenAPIDocument.json + "\n", "docs/openapi.json is stale: run `make openapi`")
    }

    func testTheDaemonServesItWithoutAToken() throws {
        let daemon = try Daemon(config: config(), options: quietOptions())
        _ = try daemon.start()
        defer { daemon.stop() }
        let r = try HTTPClient(keepAlive: false).get("http://127.0.0.1:\(daemon.port)\(OpenAPIDocument.path)")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["Content-Type"], "application/json")
        XCTAssertEqual(r.body, Data(OpenAPIDocument.json.utf8), "the served bytes are the document")
    }
}
