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
        CheckRunIndex.importLegacy(stateDirectory + "/check-runs.json", into: store,
                                   log: { n in log("check_runs_imported", ["count": String(n)]) })
        let publisher = GitHubPublisher(
            client: client,
            options: GitHubPublisher.Options(onCheckRunCreated: { taskID, id in
                                                 do { try store.setCheckRun(id, taskID: taskID) } catch {
                                                     log("check_run_not_kept", ["task": taskID, "error": "\(error)"])
                                                 }
                                             },
                                             checkRunLookup: { taskID in try? store.checkRunID(taskID: taskID) },
                                             onPublished: { event, fields in log(event, fields) },
                                             reviewPolicy: { task in
                                                 familiars.first { $0.id == task.familiar.id }?.review
                                                     .policy(owner: task.repo.owner, name: task.repo.name) ?? ReviewPolicy()
                                             }),
            log: { line in log("publish", ["message": Redactor.redactShapes(line)]) })
        return (publisher, GitHubGitTokenProvider(client: client), GitHubCheckoutResolver(client: client), client)
    }
}

/// The Check Run ids of schema 6 and before: `<state>/check-runs.json`, task id → id.
/// They now live in the store (any host of a fleet finds them); the file is read once,
/// into the store, and removed.
enum CheckRunIndex {
    static func importLegacy(_ path: String, into store: TaskStore, log: (Int) -> Void) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        var imported = 0
        if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for (taskID, v) in obj {
                guard let id = (v as? NSNumber)?.int64Value, (try? store.taskExists(id: taskID)) == true,
                      (try? store.checkRunID(taskID: taskID)) == nil else { continue }
                if (try? store.setCheckRun(id, taskID: taskID)) != nil { imported += 1 }
            }
        }
        try? FileManager.default.removeItem(atPath: path)
        log(imported)
    }
}
