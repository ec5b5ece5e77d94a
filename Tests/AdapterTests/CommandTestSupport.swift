import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A store, a supervisor that never starts (commands act on the store), the fake GitHub
/// with installation 77 over acme/widgets, a real client to it, and the webhook endpoint
/// with a `CommandResponder` and an installation policy: deliveries in, replies and
/// tasks out, as in serve.
final class CommandFixture {
    static let secret = "commands secret"
    static let familiar = FamiliarConfig(id: "cody", displayName: "Cody", botUsername: "coven-cody[bot]")
    static let repo = "acme/widgets"

    let dir: String
    let store: TaskStore
    let supervisor: TaskSupervisor
    let fake: FakeGitHubAPI
    let client: GitHubClient
    let responder: CommandResponder
    let endpoint: WebhookEndpoint
    let events = LoggedEvents()

    /// - Parameters:
    ///   - reviews: nil: serve's own, the review lane (`ReviewLaneRequester`).
    ///   - familiar: the one familiar (contract v1 by default).
    init(policy: InstallationPolicy = InstallationPolicy(), reviews: (any ReviewRequester)? = ReviewsNotEnabled(),
         familiar: FamiliarConfig = CommandFixture.familiar) throws {
        dir = NSTemporaryDirectory() + "coven-commands-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        store = try TaskStore(path: dir + "/coven.db")
        store.setInstallationLimits(policy.limits)
        let runner = try AttemptRunner(config: AttemptConfig(runtime: ["/bin/true"], attemptsDirectory: dir + "/attempts"))
        supervisor = TaskSupervisor(store: store, runner: runner, tokens: nil, publisher: NullPublisher())
        fake = try GitHubFixture.makeFake(options: FakeGitHubAPI.Options(appSlug: "coven-cody"))
        client = try GitHubFixture.makeClient(fake)
        let events = self.events
        let log: @Sendable (String, [String: String]) -> Void = { events.append($0, $1) }
        responder = CommandResponder(client: client, store: store, supervisor: supervisor,
                                     reviews: reviews ?? ReviewLaneRequester(store: store, supervisor: supervisor), log: log)
        let store = self.store
        endpoint = WebhookEndpoint(secret: Array(Self.secret.utf8), familiars: [familiar], store: store, log: log,
                                   policy: policy, commands: responder, announce: { _ in })
    }

    deinit {
        fake.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Delivers a signed event to the endpoint and waits until its command (if any) is answered.
    @discardableResult
    func deliver(_ event: String, _ body: String, delivery: String = UUID().uuidString) -> HTTPResponse {
        let data = Data(body.utf8)
        let headers: HTTPHeaders = [
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": WebhookSignature.sign(body: data, secret: Array(Self.secret.utf8)),
        ]
        let response = endpoint.handle(HTTPRequest(method: "POST", target: "/webhook", headers: headers, body: data))
        XCTAssertTrue(responder.waitUntilIdle(timeout: 30), "the command was not handled in time")
        return response
    }

    /// An `issue_comment.created` by `author` on issue (or PR) `number` of acme/widgets.
    static func comment(_ body: String, author: String = "maintainer", commentID: Int64 = 501, number: Int = 12,
                        onPR: Bool = false, installation: Int64? = GitHubFixture.installationID,
                        repo: String = "widgets") -> String {
        let pr = onPR ? #""pull_request": {"url": "https://api.github.com/repos/acme/widgets/pulls/\#(number)"},"# : ""
        let inst = installation.map { #""installation": {"id": \#($0)},"# } ?? ""
        return #"""
        {"action": "created",
         "issue": {"number": \#(number), "title": "Widgets wobble", "body": "They wobble.", \#(pr) "user": {"login": "octocat"}},
         "comment": {"id": \#(commentID), "body": \#(WebhookFixtures.q(body)), "user": {"login": \#(WebhookFixtures.q(author)), "type": "User"}},
         "repository": {"name": "\#(repo)", "owner": {"login": "acme"}, "clone_url": "https://github.com/acme/\#(repo).git",
                        "default_branch": "main"},
         \#(inst)
         "sender": {"login": \#(WebhookFixtures.q(author))}}
        """#
    }

    /// The bot's replies on `number`, oldest first.
    func replies(on number: Int = 12) -> [String] {
        fake.comments.filter { $0.issue == number && $0.userType == "Bot" }.map(\.body)
    }

    var permissionLookups: Int { fake.calls("GET", pathSuffix: "/permission").count }

    func tasks(on number: Int = 12) throws -> [TaskRecord] { try store.tasks(onTarget: Self.repo, number: number) }

    /// A task of Cody on issue `number`, stored directly.
    @discardableResult
    func storeTask(id: String, number: Int = 12) throws -> TaskSpec {
        let spec = TaskSpec(id: id, source: .api, installationID: GitHubFixture.installationID, repo: GitHubFixture.repoRef,
                            trigger: .issueAssigned, kind: .fixIssue(issueNumber: number, title: "Widgets wobble", body: ""),
                            familiar: Self.familiar.ref)
        try store.insert(spec)
        return spec
    }
}
