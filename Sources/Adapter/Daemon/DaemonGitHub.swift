import Foundation
import Synchronization
import Supervisor

extension Daemon {
    /// The GitHub App's client, publisher (Check Runs, status comment, draft PRs), git
    /// token provider (a fresh installation token per attempt, scoped to the repository)
    /// and checkout resolver (a pull request task's head, looked up per attempt).
    /// Check Run ids are kept in `<state>/check-runs.json` so that a task recovered after
    /// a restart updates its run instead of creating a second one.
    static func gitHubWiring(_ gh: DaemonConfig.GitHub, stateDirectory: String, store: TaskStore,
                             familiars: [FamiliarConfig] = [],
                             log: @escaping @Sendable (String, [String: String]) -> Void) throws
        -> (publisher: any Publisher, tokens: any GitTokenProvider, checkouts: any CheckoutResolver, client: GitHubClient) {
        let credentials: GitHubAppCredentials
        do {
            credentials = try GitHubAppCredentials(appID: gh.appID, privateKeyPath: gh.privateKeyPath)
        } catch {
            throw DaemonError("github.private_key_path: \(error)")
        }
        let client: GitHubClient
        do {
            client = try GitHubClient(credentials: credentials,
                                      configuration: GitHubClient.Configuration(
                                        apiBaseURL: gh.apiBaseURL,
                                        log: { line in log("github_api", ["message": Redactor.redactShapes(line)]) }))
        } catch {
            throw DaemonError("github: \(error)")
        }
        let index = CheckRunIndex(path: stateDirectory + "/check-runs.json")
        let publisher = GitHubPublisher(
            client: client,
            options: GitHubPublisher.Options(onCheckRunCreated: { taskID, id in index.set(taskID, id) },
                                             onPublished: { event, fields in log(event, fields) },
                                             reviewPolicy: { task in
                                                 familiars.first { $0.id == task.familiar.id }?.review
                                                     .policy(owner: task.repo.owner, name: task.repo.name) ?? ReviewPolicy()
                                             }),
            log: { line in log("publish", ["message": Redactor.redactShapes(line)]) })
        // Give back the runs of tasks that are not finished, or whose end is still to be
        // published (the outbox delivers it after this restart: it must update this run,
        // not create a second); forget the others.
        let pending = (try? store.tasksWithPendingPublications()) ?? []
        var keep: [String: Int64] = [:]
        for (taskID, id) in index.all {
            if pending.contains(taskID) {
                publisher.restoreCheckRun(id, forTask: taskID)
                keep[taskID] = id
            } else if let state = try? store.task(id: taskID)?.record.state, state == .queued || state == .running {
                publisher.restoreCheckRun(id, forTask: taskID)
                keep[taskID] = id
            }
        }
        index.replace(keep)
        return (publisher, GitHubGitTokenProvider(client: client), GitHubCheckoutResolver(client: client), client)
    }
}

/// task id → Check Run id, as a small JSON file rewritten atomically on each change.
final class CheckRunIndex: Sendable {
    let path: String
    private let map: Mutex<[String: Int64]>

    init(path: String) {
        self.path = path
        var loaded: [String: Int64] = [:]
        if let data = FileManager.default.contents(atPath: path),
           let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for (k, v) in obj { if let n = (v as? NSNumber)?.int64Value { loaded[k] = n } }
        }
        map = Mutex(loaded)
    }

    var all: [String: Int64] { map.withLock { $0 } }

    func set(_ taskID: String, _ id: Int64) {
        let snapshot = map.withLock { m -> [String: Int64] in m[taskID] = id; return m }
        write(snapshot)
    }

    func replace(_ m: [String: Int64]) {
        map.withLock { $0 = m }
        write(m)
    }

    private func write(_ m: [String: Int64]) {
        guard let data = try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]) else { return }
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
