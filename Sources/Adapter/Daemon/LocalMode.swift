import Foundation
import HTTP
import Synchronization
import Sandbox
import Supervisor

/// Local mode (`coven-supervisor serve` without `--config`, what `make run` starts):
/// no GitHub App, tasks come from the task API, publication goes to the log.
///
/// So that a newcomer without network can see a task run end to end, local mode also
/// serves a demo repository (`demo/hello`) over real git smart-HTTP on the daemon's own
/// listener (`/git/demo/hello.git`), protected by a random token that only the local
/// token provider hands to attempts (through the askpass socket, as in production).
/// The task API's token is kept in `<state>/api-token` (0600), the demo task in
/// `<state>/demo-task.json` and the demo review in `<state>/demo-review-task.json`.
/// There is no GitHub to hold pull requests: the demo's pull request is the branch
/// `demoReviewBranch`, and a review's files come from the repository's diff
/// (`checkoutResolver`).
public final class LocalMode: Sendable {
    public static let demoRepository = "demo/hello"
    /// Where the demo repositories are served on the daemon's listener.
    public static let gitMount = "/git"
    public static let exampleRuntimeName = "coven-code-example"
    /// The contract v2 runtime beside it, which the v1 example hands v2 briefs to.
    public static let exampleV2RuntimeName = "coven-code-example-v2"
    /// The demo pull request: this branch of the demo repository, reviewed as #`demoReviewNumber`.
    public static let demoReviewBranch = "greet-by-name"
    public static let demoReviewNumber = 2
    /// The familiar that reviews (contract v2) beside the `example` one (v1).
    public static let reviewerFamiliarID = "example-reviewer"
    /// Where the examples directory appears inside the sandbox.
    public static let examplesMount = "/opt/coven-examples"

    public let stateDirectory: String
    public let apiTokenPath: String
    public let git: GitSmartHTTPServer
    /// The listener as seen from this host, and as seen from sandboxes.
    private let baseURLs = Mutex<(host: String, sandbox: String)?>(nil)

    /// Prepares the state directory: the API token file (kept across restarts), the
    /// demo repository (created once) and the git server with a fresh random token.
    public init(stateDirectory: String) throws {
        self.stateDirectory = stateDirectory
        try Daemon.prepareStateDirectory(stateDirectory)
        apiTokenPath = stateDirectory + "/api-token"
        try Self.ensureTokenFile(apiTokenPath)
        let gitRoot = stateDirectory + "/git"
        try FileManager.default.createDirectory(atPath: gitRoot, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        git = GitSmartHTTPServer(root: gitRoot, token: Self.randomHex(bytes: 20))
        if !git.hasRepository(Self.demoRepository) {
            try git.createRepository(Self.demoRepository, files: [
                "README.md": "# hello\n\nThe coven-supervisor demo repository. Tasks run against it in local mode.\n",
                "hello.sh": "#!/bin/sh\necho hello\n",
            ])
        }
        // Made on its own: a state directory from before the demo review has the repository only.
        if git.head(of: Self.demoRepository, branch: Self.demoReviewBranch) == nil {
            try git.createBranch(Self.demoReviewBranch, in: Self.demoRepository, files: [
                "hello.sh": "#!/bin/sh\nname=${1:-world}\necho \"hello, $name\"\n",
            ], message: "Greet by name")
        }
    }

    /// The embedded configuration: 127.0.0.1:8787, the example runtime in real sandboxes
    /// in `proxy` network mode allowing exactly the daemon's listener (`egressPolicy`),
    /// one example familiar, the task API on with the token file above.
    public static func config(stateDirectory: String, examplesDirectory: String,
                              listen: DaemonConfig.ListenAddress = .init(host: "127.0.0.1", port: 8787)) -> DaemonConfig {
        let worker = DaemonConfig.Worker(runtime: [examplesMount + "/" + exampleRuntimeName], timeout: .seconds(300),
                                         grace: .seconds(5), maxRetries: 1, backoffBase: .seconds(2),
                                         concurrency: 2, perInstallationConcurrency: 2, shutdownGrace: .seconds(10))
        let sandbox = DaemonConfig.SandboxSettings(profile: "default", network: .proxy, egress: egressPolicy(listen: listen),
                                                   workspaceSize: 512 << 20, memory: 1 << 30, pids: 512,
                                                   binds: [Bind(source: examplesDirectory, destination: examplesMount)])
        let familiar = FamiliarConfig(id: "example", displayName: "Example Familiar", botUsername: "coven-example[bot]")
        let reviewer = FamiliarConfig(id: reviewerFamiliarID, displayName: "Example Reviewer",
                                      botUsername: "coven-example-reviewer[bot]", contractVersion: 2)
        return DaemonConfig(listen: listen, stateDirectory: stateDirectory, github: nil, worker: worker, sandbox: sandbox,
                            familiars: [familiar, reviewer], api: DaemonConfig.API(tokenPath: stateDirectory + "/api-token"))
    }

    /// The name sandboxes reach the daemon's listener by. Inside a sandbox 127.0.0.1 is
    /// the sandbox's own loopback (and in its NO_PROXY), so the demo clone URL uses this
    /// name instead: git sends it to the egress proxy, which resolves it through the
    /// policy's `static_hosts` (no DNS) to the listener's address.
    public static let sandboxHostName = "coven-daemon.internal"

    /// `http://coven-daemon.internal:PORT`
    public static func sandboxBaseURL(port: UInt16) -> String { "http://\(sandboxHostName):\(port)" }

    /// Exactly the daemon's listener: `sandboxHostName` pinned to its address (127.0.0.1
    /// when it listens on every interface), that address as the one private exception,
    /// its port as the one port. Nothing else, not even the default hosts.
    public static func egressPolicy(listen: DaemonConfig.ListenAddress) -> EgressPolicy {
        var address = IPAddress(listen.host) ?? IPAddress("127.0.0.1")!
        if AddressClassifier.classify(address) == .unspecified { address = IPAddress("127.0.0.1")! }
        return EgressPolicy(allowHosts: [sandboxHostName], allowPorts: [Int(listen.port)],
                            allowPrivateDestinations: ["\(address)/\(address.isIPv4 ? 32 : 128)"],
                            staticHosts: [sandboxHostName: "\(address)"])
    }

    /// `examples/` of the checkout: searched upwards from the executable, then from the
    /// current directory.
    public static func findExamplesDirectory() -> String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        for start in [(exe as NSString).deletingLastPathComponent, FileManager.default.currentDirectoryPath] {
            var dir = (start as NSString).standardizingPath
            while true {
                let candidate = dir + "/examples"
                if FileManager.default.isExecutableFile(atPath: candidate + "/" + exampleRuntimeName) { return candidate }
                let parent = (dir as NSString).deletingLastPathComponent
                if parent == dir || parent.isEmpty { break }
                dir = parent
            }
        }
        return nil
    }

    /// Called once the listener is up: its URL from this host, and from sandboxes (the
    /// demo clone URL uses the latter).
    func attach(baseURL url: String, sandboxBaseURL: String? = nil) {
        baseURLs.withLock { $0 = (url, sandboxBaseURL ?? url) }
    }

    /// `http://127.0.0.1:PORT` once started.
    public var daemonBaseURL: String? { baseURLs.withLock { $0?.host } }

    /// The listener as sandboxes reach it: `http://coven-daemon.internal:PORT` in proxy
    /// mode, else `daemonBaseURL`.
    public var sandboxBaseURL: String? { baseURLs.withLock { $0?.sandbox } }

    /// The demo repository's clone URL as attempts use it (no credentials in it).
    public var demoCloneURL: String? { sandboxBaseURL.map { $0 + Self.gitMount + "/" + Self.demoRepository + ".git" } }

    /// The demo task as the task API takes it.
    public func demoTaskJSON() -> String? {
        guard let clone = demoCloneURL else { return nil }
        let task: JSONValue = .object([
            "repo": .object(["owner": .string("demo"), "name": .string("hello"), "clone_url": .string(clone),
                             "default_branch": .string("main")]),
            "task": .object(["kind": .string("fix_issue"), "issue_number": .number(1),
                             "issue_title": .string("Say hello properly"),
                             "issue_body": .string("hello.sh should greet the world by name.")]),
            "familiar": .object(["id": .string("example"), "display_name": .string("Example Familiar"), "skills": .array([])]),
        ])
        return task.description
    }

    /// The demo review as the task API takes it: the example reviewer (contract v2) reviews
    /// the demo pull request, the branch `demoReviewBranch`.
    public func demoReviewTaskJSON() -> String? {
        guard let clone = demoCloneURL else { return nil }
        let task: JSONValue = .object([
            "repo": .object(["owner": .string("demo"), "name": .string("hello"), "clone_url": .string(clone),
                             "default_branch": .string("main")]),
            "task": .object(["kind": .string("review_pull_request"), "pr_number": .number(Double(Self.demoReviewNumber))]),
            "head_ref": .string(Self.demoReviewBranch),
            "contract_version": .number(2),
            "familiar": .object(["id": .string(Self.reviewerFamiliarID), "display_name": .string("Example Reviewer"),
                                 "skills": .array([])]),
        ])
        return task.description
    }

    /// Answers git requests under `/git/` (demo repositories only).
    func registerGit(on router: inout Router) {
        let git = self.git
        let serve: Router.Handler = { request in git.respond(to: request, mountedAt: LocalMode.gitMount) }
        router.get(Self.gitMount + "/{owner}/{repo}/info/refs", serve)
        router.post(Self.gitMount + "/{owner}/{repo}/git-upload-pack", serve)
        router.post(Self.gitMount + "/{owner}/{repo}/git-receive-pack", serve)
    }

    /// Hands the demo server's token to attempts whose clone URL is on it, and nothing
    /// to anything else (local mode holds no other credentials).
    public var tokenProvider: any GitTokenProvider { LocalTokenProvider(mode: self) }

    struct LocalTokenProvider: GitTokenProvider {
        let mode: LocalMode
        func gitToken(for task: TaskSpec) async throws -> String {
            guard let base = mode.sandboxBaseURL, task.repo.cloneURL.hasPrefix(base + LocalMode.gitMount + "/") else {
                if let host = mode.daemonBaseURL, let base = mode.sandboxBaseURL, host != base,
                   task.repo.cloneURL.hasPrefix(host + LocalMode.gitMount + "/") {
                    throw DaemonError("sandboxes reach the daemon as \(base) (\(host) inside a sandbox is its own loopback): use clone_url \(base)\(LocalMode.gitMount)/…")
                }
                throw DaemonError("local mode holds git credentials only for its demo repositories (\(LocalMode.gitMount)/… on the daemon's listener); run with --config for others")
            }
            return mode.git.currentToken
        }
    }

    /// Checks out `Checkout.fromSpec` (as without a resolver), and lists a review's files
    /// from the demo repository's diff, where GitHub would list the pull request's.
    public var checkoutResolver: any CheckoutResolver { LocalCheckoutResolver(mode: self) }

    struct LocalCheckoutResolver: CheckoutResolver {
        let mode: LocalMode
        func checkout(for task: TaskSpec) async throws(CheckoutError) -> Checkout { Checkout.fromSpec(task) }

        func reviewFiles(for task: TaskSpec) async throws(CheckoutError) -> [String] {
            let repo = task.repo.owner + "/" + task.repo.name
            // Only a branch of a repository served here can be diffed; anything else has no files.
            guard let base = mode.sandboxBaseURL, task.repo.cloneURL == base + LocalMode.gitMount + "/" + repo + ".git",
                  mode.git.hasRepository(repo) else { return [] }
            guard let head = task.headSHA ?? task.headRef, !head.isEmpty else { return [] }
            do {
                return try mode.git.changedFiles(in: repo, base: task.repo.defaultBranch, head: head)
            } catch {
                throw .unavailable("cannot diff \(head) against \(task.repo.defaultBranch) in \(repo)")
            }
        }
    }

    /// What `serve` prints on start: how to submit the demo task and watch it, with `cli`
    /// (the `coven-supervisor` binary) and the flags that reach this daemon.
    public func banner(cli: String = "coven-supervisor") -> String {
        let base = daemonBaseURL ?? "http://127.0.0.1:8787"
        let rel = Self.displayPath(stateDirectory)
        let proxied = sandboxBaseURL.map { $0 != base } ?? false
        // `tasks` finds ./state and 127.0.0.1:8787 by itself; anything else is spelled out.
        var flags = ""
        if rel != "./state" { flags += " --state-dir \(rel)" }
        if base != "http://127.0.0.1:8787" { flags += " --url \(base)" }
        let tasks = Self.displayPath(cli) + " tasks"
        return """
        coven-supervisor is running in local mode on \(base) (no GitHub App: outcomes are logged, not published).
        State: \(rel)   Task API token: \(rel)/api-token   Demo repository: \(demoCloneURL ?? "-")\(proxied ? "\nSandboxes reach nothing but this listener (network proxy; \(Self.sandboxHostName) is pinned to it)." : "")

        Dashboard: \(base)/ (log in with the token in \(rel)/api-token)

        Submit the demo task (fix issue #1 of demo/hello with the example runtime), and watch it:

          \(tasks) submit\(flags) \(rel)/demo-task.json
          \(tasks) list\(flags)
          \(tasks) show\(flags) TASK_ID
          \(tasks) logs\(flags) -f TASK_ID

        Submit the demo review (the example reviewer, contract v2, reviews branch \(Self.demoReviewBranch) as pull request #\(Self.demoReviewNumber)); its findings are in the result's review:

          \(tasks) submit\(flags) \(rel)/demo-review-task.json
          \(tasks) show\(flags) TASK_ID

        Or with curl: curl -s -H "Authorization: Bearer $(cat \(rel)/api-token)" --data-binary @\(rel)/demo-task.json \(base)/api/tasks
        Health: \(base)/healthz   Metrics: \(base)/metrics
        Stop with Ctrl-C (running attempts are given a grace period, then torn down).

        """
    }

    /// Writes `<state>/demo-task.json` and `<state>/demo-review-task.json` (after `attach`).
    func writeDemoTask() throws {
        guard let json = demoTaskJSON(), let review = demoReviewTaskJSON() else { return }
        try Data((json + "\n").utf8).write(to: URL(fileURLWithPath: stateDirectory + "/demo-task.json"))
        try Data((review + "\n").utf8).write(to: URL(fileURLWithPath: stateDirectory + "/demo-review-task.json"))
    }

    static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        if path.hasPrefix(cwd + "/") { return "./" + path.dropFirst(cwd.count + 1) }
        return path
    }

    static func randomHex(bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    /// Creates `path` (0600) with a fresh random token unless it already holds one.
    static func ensureTokenFile(_ path: String) throws {
        if let data = FileManager.default.contents(atPath: path),
           !String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            chmod(path, 0o600)
            return
        }
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DaemonError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array((randomHex(bytes: 32) + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else {
            throw DaemonError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
