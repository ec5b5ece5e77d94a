import Foundation
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
/// The task API's token is kept in `<state>/api-token` (0600) and the demo task in
/// `<state>/demo-task.json`.
public final class LocalMode: Sendable {
    public static let demoRepository = "demo/hello"
    /// Where the demo repositories are served on the daemon's listener.
    public static let gitMount = "/git"
    public static let exampleRuntimeName = "coven-code-example"
    /// Where the examples directory appears inside the sandbox.
    public static let examplesMount = "/opt/coven-examples"

    public let stateDirectory: String
    public let apiTokenPath: String
    public let git: GitSmartHTTPServer
    private let baseURL = Mutex<String?>(nil)

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
    }

    /// The embedded configuration: 127.0.0.1:8787, the example runtime in real sandboxes
    /// with the host network (so the sandbox reaches the daemon's loopback git server),
    /// one example familiar, the task API on with the token file above.
    public static func config(stateDirectory: String, examplesDirectory: String,
                              listen: DaemonConfig.ListenAddress = .init(host: "127.0.0.1", port: 8787)) -> DaemonConfig {
        let worker = DaemonConfig.Worker(runtime: [examplesMount + "/" + exampleRuntimeName], timeout: .seconds(300),
                                         grace: .seconds(5), maxRetries: 1, backoffBase: .seconds(2),
                                         concurrency: 2, perInstallationConcurrency: 2, shutdownGrace: .seconds(10))
        let sandbox = DaemonConfig.SandboxSettings(profile: "default", network: .host, workspaceSize: 512 << 20,
                                                   memory: 1 << 30, pids: 512,
                                                   binds: [Bind(source: examplesDirectory, destination: examplesMount)])
        let familiar = FamiliarConfig(id: "example", displayName: "Example Familiar", botUsername: "coven-example[bot]")
        return DaemonConfig(listen: listen, stateDirectory: stateDirectory, github: nil, worker: worker, sandbox: sandbox,
                            familiars: [familiar], api: DaemonConfig.API(tokenPath: stateDirectory + "/api-token"))
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

    /// Called once the listener is up: the demo clone URLs use its address.
    func attach(baseURL url: String) { baseURL.withLock { $0 = url } }

    /// `http://127.0.0.1:PORT` once started.
    public var daemonBaseURL: String? { baseURL.withLock { $0 } }

    /// The demo repository's clone URL (no credentials in it).
    public var demoCloneURL: String? { daemonBaseURL.map { $0 + Self.gitMount + "/" + Self.demoRepository + ".git" } }

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
            guard let base = mode.daemonBaseURL, task.repo.cloneURL.hasPrefix(base + LocalMode.gitMount + "/") else {
                throw DaemonError("local mode holds git credentials only for its demo repositories (\(LocalMode.gitMount)/… on the daemon's listener); run with --config for others")
            }
            return mode.git.currentToken
        }
    }

    /// What `serve` prints on start: how to submit the demo task and watch it.
    public func banner() -> String {
        let base = daemonBaseURL ?? "http://127.0.0.1:8787"
        let rel = Self.displayPath(stateDirectory)
        return """
        coven-supervisor is running in local mode on \(base) (no GitHub App: outcomes are logged, not published).
        State: \(rel)   Task API token: \(rel)/api-token   Demo repository: \(demoCloneURL ?? "-")

        Submit the demo task (fix issue #1 of demo/hello with the example runtime):

          curl -s -H "Authorization: Bearer $(cat \(rel)/api-token)" --data-binary @\(rel)/demo-task.json \(base)/api/tasks

        Watch it (use the task_id from the answer):

          curl -s -H "Authorization: Bearer $(cat \(rel)/api-token)" \(base)/api/tasks/TASK_ID

        All tasks: \(base)/api/tasks   Health: \(base)/healthz   Metrics: \(base)/metrics
        Stop with Ctrl-C (running attempts are given a grace period, then torn down).

        """
    }

    /// Writes `<state>/demo-task.json` (after `attach`).
    func writeDemoTask() throws {
        guard let json = demoTaskJSON() else { return }
        try Data((json + "\n").utf8).write(to: URL(fileURLWithPath: stateDirectory + "/demo-task.json"))
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
