import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor

/// Local mode's demo review: the real `serve` binary, `state/demo-review-task.json` through
/// the task API, the example reviewer (contract v2) in a real sandbox with the v2 example
/// runtime, and the review's findings in the task's result.
final class ServeDemoReviewTests: XCTestCase {
    /// Submits `task` to a fresh local-mode serve and returns the task once it has ended.
    func runToEnd(_ task: (ServeTests.Daemon) throws -> Data) throws -> [String: Any] {
        let d = try ServeTests.Daemon()
        let client = HTTPClient(keepAlive: false)
        let up = eventually(timeout: 60, interval: 0.1) {
            d.process.isRunning && (try? client.get(d.base + "/healthz", timeout: 2))?.status == 200
        }
        guard up else { XCTFail("serve did not answer /healthz: \(d.stderr)"); return [:] }
        let token = try String(contentsOfFile: d.state + "/api-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let auth: HTTPHeaders = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]
        let submitted = try client.post(d.base + "/api/tasks", body: try task(d), headers: auth)
        XCTAssertEqual(submitted.status, 201, "submitting: \(submitted.text ?? "")")
        let id = try XCTUnwrap(submitted.json["task_id"] as? String)
        var last: [String: Any] = [:]
        let finished = eventually(timeout: 120, interval: 0.2) {
            last = (try? client.get(d.base + "/api/tasks/\(id)", headers: auth))?.json ?? [:]
            return ["completed", "failed", "cancelled"].contains(last["state"] as? String ?? "")
        }
        XCTAssertTrue(finished, "the task did not finish: \(last)\n\(d.stderr)")
        XCTAssertEqual(last["state"] as? String, "completed", "the task completes: \(last)\n\(d.stderr)")
        return last
    }

    func testTheDemoReviewCompletesWithFindingsOnTheDemoPullRequest() throws {
        let last = try runToEnd { d in try Data(contentsOf: URL(fileURLWithPath: d.state + "/demo-review-task.json")) }
        let result = try XCTUnwrap((last["result"] as? [String: Any])?["review"] as? [String: Any],
                                   "a v2 result carries its review: \(last)")
        XCTAssertEqual(result["reviewed_files"] as? [String], ["hello.sh"],
                       "the brief's review_context listed the demo branch's diff: \(result)")
        let findings = result["findings"] as? [[String: Any]] ?? []
        XCTAssertFalse(findings.isEmpty, "the example reviewer reports findings: \(result)")
        XCTAssertTrue(findings.contains { $0["file"] as? String == "hello.sh" && $0["line"] as? Int == 2 },
                      "one finding is on the first line the demo branch changes (hello.sh:2): \(findings)")
    }

    func testTheV2ExampleFixesAnIssueLikeTheV1OneInTheV2Shape() throws {
        let last = try runToEnd { d in
            let demo = try String(contentsOfFile: d.state + "/demo-task.json", encoding: .utf8)
            var task = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(demo.utf8)) as? [String: Any])
            task["contract_version"] = 2
            return try JSONSerialization.data(withJSONObject: task)
        }
        let result = last["result"] as? [String: Any]
        let id = last["id"] as? String ?? "?"
        XCTAssertEqual(result?["branch"] as? String, "coven/\(id)", "the v2 example pushed its branch: \(last)")
        XCTAssertEqual((result?["review"] as? [String: Any])?["mode"] as? String, "none", "not a review: \(last)")
    }
}

/// The pieces of the demo review that need no sandbox: the task file, the banner and the
/// review's files from git.
final class LocalModeDemoReviewTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-local-review-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func attached() throws -> LocalMode {
        let local = try LocalMode(stateDirectory: dir + "/state")
        local.attach(baseURL: "http://127.0.0.1:8787", sandboxBaseURL: LocalMode.sandboxBaseURL(port: 8787))
        return local
    }

    func testTheDemoReviewTaskIsAContractV2ReviewOfTheDemoBranch() throws {
        let json = try XCTUnwrap(try attached().demoReviewTaskJSON())
        let spec = try JSONDecoder().decode(TaskSpec.self, from: Data(json.utf8))
        XCTAssertEqual(spec.kind, .reviewPullRequest(prNumber: LocalMode.demoReviewNumber))
        XCTAssertEqual(spec.contractVersion, 2, "a review needs a v2 familiar: \(json)")
        XCTAssertEqual(spec.headRef, LocalMode.demoReviewBranch)
        XCTAssertEqual(spec.familiar.id, LocalMode.reviewerFamiliarID)
    }

    func testTheLocalConfigHasAContractV2ReviewerBesideTheV1Familiar() {
        let c = LocalMode.config(stateDirectory: dir + "/state", examplesDirectory: dir)
        XCTAssertEqual(c.familiars.map { "\($0.id):\($0.contractVersion)" }, ["example:1", "\(LocalMode.reviewerFamiliarID):2"])
    }

    func testTheBannerNamesTheDemoReviewTaskFile() throws {
        XCTAssertTrue(try attached().banner().contains("demo-review-task.json"), "serve tells how to run the demo review")
    }

    func testAReviewsFilesAreTheDemoBranchsDiffAgainstTheDefaultBranch() async throws {
        let local = try attached()
        let spec = try JSONDecoder().decode(TaskSpec.self, from: Data(try XCTUnwrap(local.demoReviewTaskJSON()).utf8))
        let files = try await local.checkoutResolver.reviewFiles(for: spec)
        XCTAssertEqual(files, ["hello.sh"], "the files the demo branch changes")
    }

    func testAReviewOfARepositoryNotServedHereHasNoFiles() async throws {
        let local = try attached()
        var spec = try JSONDecoder().decode(TaskSpec.self, from: Data(try XCTUnwrap(local.demoReviewTaskJSON()).utf8))
        spec.repo.cloneURL = "https://example.invalid/acme/widget.git"
        let files = try await local.checkoutResolver.reviewFiles(for: spec)
        XCTAssertEqual(files, [], "nothing to diff without the repository")
    }
}
