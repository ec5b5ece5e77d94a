import Foundation
import Sandbox

/// What one attempt left behind.
public struct AttemptRun: Sendable {
    public var outcome: AttemptOutcome
    public var report: ExitReport?
    public var stdout: RedactedOutput
    public var stderr: RedactedOutput
    public var askpass: [AskpassRequestLog]
    /// Proxy mode: every egress decision of the attempt (stored as its egress log).
    public var egress: EgressReport? = nil

    /// Bytes through the egress proxy, both directions (nil without one).
    public var egressBytes: UInt64? { egress.map { $0.totals.bytesUp + $0.totals.bytesDown } }
}

/// Runs one attempt: a fresh sandbox that pre-clones the repository into
/// /workspace and execs the runtime per the headless contract, with the git token
/// reachable only through the askpass socket; then reads and classifies the result.
public final class AttemptRunner: Sendable {
    public let config: AttemptConfig
    private let program: SeccompProgram
    private let identities: HostIdentityPool
    /// The shared copy of the askpass helper, bound into every attempt at /run/coven/askpass.
    private let askpassPath: String
    /// The output files of the attempts running now (followed by the task API).
    public let liveOutputs = LiveAttemptOutputs()

    public init(config: AttemptConfig, identities: HostIdentityPool = .shared) throws {
        self.config = config
        self.identities = identities
        askpassPath = try AttemptDirectory.installAskpass(from: config.askpassBinary, in: config.attemptsDirectory)
        do {
            program = try SeccompProfile.load(nameOrPath: config.seccompProfile).compile()
        } catch {
            throw AttemptError.setup("seccomp profile \(config.seccompProfile): \(error)")
        }
        // A bad egress policy is a configuration error: fail now, not as a retried attempt.
        if config.network == .proxy {
            do { _ = try config.egress.compiled() } catch { throw AttemptError.setup("egress policy: \(error)") }
            for (familiar, policy) in config.egressForFamiliar.sorted(by: { $0.key < $1.key }) {
                do { _ = try policy.compiled() } catch {
                    throw AttemptError.setup("egress policy of familiar \(familiar): \(error)")
                }
            }
        }
    }

    /// Runs the attempt to its end. `token` nil means no git credentials at all.
    /// `checkout` is what the pre-clone checks out (default: `Checkout.fromSpec`).
    /// `onLaunch` receives the sandbox handle (for cancellation) once it runs.
    /// `reviewFiles`: a review's changed files, for the brief's `review_context`.
    public func run(task: TaskSpec, attempt: Int, token: String?, checkout: Checkout? = nil, reviewFiles: [String] = [],
                    onLaunch: @Sendable (SandboxHandle) -> Void = { _ in }) -> AttemptRun {
        let redactor = Redactor(secrets: (token.map { [$0] } ?? []) + config.redactedSecrets, cap: config.outputCap)
        func infra(_ stage: String, _ detail: String) -> AttemptRun {
            AttemptRun(outcome: AttemptClassifier.classifyInfraFailure(stage: stage, detail: redactor.redact(detail)),
                       report: nil, stdout: redactor.redact(Data()), stderr: redactor.redact(Data()), askpass: [])
        }

        // 1. The brief (tokenless by construction, valid against the familiar's contract).
        let briefData: Data
        do {
            briefData = try SessionBrief(task: task, workspaceRoot: "/workspace", reviewFiles: reviewFiles).jsonData()
        } catch {
            return AttemptRun(outcome: AttemptClassifier.classifyInfraFailure(stage: "session brief", detail: "\(error)"),
                              report: nil, stdout: redactor.redact(Data()), stderr: redactor.redact(Data()), askpass: [])
        }

        // 2. Identity first, so the out/ directory and the askpass peer check can use it.
        var pooled: UInt32?
        var identity = SandboxIdentity.automatic
        var owner: (uid_t, gid_t)?
        if geteuid() == 0 {
            let id: UInt32
            do { id = try identities.acquire() } catch { return infra("identity", error.description) }
            pooled = id
            identity = .host(uid: id, gid: id)
            owner = (id, id)
        }
        defer { if let id = pooled { identities.release(id) } }

        // 3. The attempt directory behind /run/coven.
        let dir: AttemptDirectory
        do {
            dir = try AttemptDirectory.create(in: config.attemptsDirectory, taskID: task.id, attempt: attempt,
                                              owner: owner, brief: briefData, outSize: config.outSize)
        } catch {
            return infra("attempt directory", "\(error)")
        }
        defer { dir.remove() }
        // Unregistered before the files go (defers run in reverse): a follower either has
        // the file open or learns the output is complete.
        liveOutputs.register(taskID: task.id, attempt: attempt, stdout: dir.outputFile(.stdout),
                             stderr: dir.outputFile(.stderr), redactor: redactor)
        defer { liveOutputs.unregister(taskID: task.id, attempt: attempt) }

        // 4. The askpass server: the token stays in this process.
        var askpass: AskpassServer?
        if let token {
            do {
                askpass = try AskpassServer(socketPath: dir.socket, cloneURL: task.repo.cloneURL, token: token,
                                            peerUID: owner?.0 ?? getuid())
            } catch {
                return infra("askpass", "\(error)")
            }
        }
        defer { askpass?.close() }

        // 5. The sandbox.
        var spec = SandboxSpec(command: ["/bin/sh", AttemptDirectory.insideRoot + "/attempt.sh"] + config.runtime)
        spec.environment = environment(task: task, attempt: attempt, token: token,
                                       checkout: checkout ?? Checkout.fromSpec(task))
        spec.network = config.network
        spec.egress = config.egress(for: task)
        spec.egressSocketParent = dir.path   // removed with the attempt directory at the latest
        spec.seccompProgram = program
        spec.limits = config.limits
        spec.workspaceSize = config.workspaceSize
        spec.timeout = config.timeout
        spec.grace = config.grace
        spec.identity = identity
        // Files, not memory: followers read them while the attempt runs.
        spec.stdout = .file(path: dir.outputFile(.stdout), limit: config.outputCap)
        spec.stderr = .file(path: dir.outputFile(.stderr), limit: config.outputCap)
        spec.binds = [
            Bind(source: dir.path, destination: AttemptDirectory.insideRoot),
            Bind(source: dir.out, destination: AttemptDirectory.insideRoot + "/out", writable: true),
            Bind(source: askpassPath, destination: AttemptDirectory.insideRoot + "/askpass"),
        ] + config.binds

        let result: SandboxResult
        do {
            let handle = try Sandbox.launch(spec, identities: identities)
            onLaunch(handle)
            result = handle.wait()
        } catch let e as SandboxError {
            return infra("sandbox set-up (\(e.stage.name))", e.message + (e.hint.map { " (fix: \($0))" } ?? ""))
        } catch {
            return infra("sandbox", "\(error)")
        }
        askpass?.close()   // refuse from here on, even before the directory goes
        // The collectors are done: the files hold everything kept (the cap, then a marker).
        let readCap = config.outputCap + 4096
        let stdout = dir.readOutput(.stdout, max: readCap)
        let stderr = dir.readOutput(.stderr, max: readCap)

        // 6. Classify: a failed pre-clone is infra; otherwise the contract's table.
        let outcome: AttemptOutcome
        let cloneStatus = dir.readOutFile("clone.status")?.trimmingCharacters(in: .whitespacesAndNewlines)
        let ranPastClone = cloneStatus == "ok"
        switch result.report.exitClass {
        case .exited, .signaled, .oomKilled, .seccompViolation where !ranPastClone:
            if cloneStatus?.hasPrefix("failed") == true || cloneStatus == nil && result.report.exitClass == .exited(code: 97) {
                let tail = redactor.redact(stderr).text.suffix(400)
                outcome = AttemptClassifier.classifyCloneFailure("git clone \(cloneStatus ?? "failed"): \(tail)")
            } else {
                outcome = AttemptClassifier.classify(exit: result.report, result: readResult(dir, redactor, task.contractVersion))
            }
        default:
            outcome = AttemptClassifier.classify(exit: result.report, result: ranPastClone ? readResult(dir, redactor, task.contractVersion) : nil)
        }
        // The wrapper found no runtime to exec: as if execve had failed (retrying cannot help).
        if ranPastClone, let status = dir.readOutFile("runtime.status")?.trimmingCharacters(in: .whitespacesAndNewlines),
           status == "not-found" || status == "not-executable" {
            var report = result.report
            report.exitClass = .spawnFailed(errno: status == "not-found" ? ENOENT : EACCES)
            let o = AttemptClassifier.classify(exit: report, result: nil)
            return AttemptRun(outcome: AttemptOutcome(attemptClass: o.attemptClass, disposition: o.disposition,
                                                      reason: "runtime \(config.runtime[0]) \(status == "not-found" ? "not found" : "not executable") in the sandbox"),
                              report: report, stdout: redactor.redact(stdout), stderr: redactor.redact(stderr),
                              askpass: askpass?.requests ?? [], egress: result.egress)
        }
        return AttemptRun(outcome: outcome, report: result.report,
                          stdout: redactor.redact(stdout), stderr: redactor.redact(stderr),
                          askpass: askpass?.requests ?? [], egress: result.egress)
    }

    /// The runtime's result, redacted like its output: a runtime that writes its token (or
    /// any secret) into the result must not get it stored, served or published.
    private func readResult(_ dir: AttemptDirectory, _ redactor: Redactor, _ version: Int) -> Result<ResultEnvelope, ContractViolation> {
        let dfd = open(dir.out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dfd >= 0 else {
            return ResultReader.read(path: dir.out + "/result.json", contractVersion: version).map(redactor.redact)
        }
        defer { close(dfd) }
        return ResultReader.read(directoryFD: dfd, name: "result.json", contractVersion: version).map(redactor.redact)
    }

    private func environment(task: TaskSpec, attempt: Int, token: String?, checkout: Checkout) -> [String: String] {
        let name = task.familiar.displayName
        let email = "\(task.familiar.id)@users.noreply.coven"
        var env = [
            "HOME": "/tmp",
            "GIT_ASKPASS": AttemptDirectory.insideRoot + "/askpass",
            "COVEN_ASKPASS_SOCKET": AttemptDirectory.insideRoot + "/askpass.sock",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
            "COVEN_CLONE_URL": task.repo.cloneURL,
            "COVEN_CHECKOUT_REF": checkout.cloneBranch,
            "COVEN_TASK_ID": task.id,
            "COVEN_ATTEMPT": String(attempt),
        ]
        if case .forkHead(let number, _, let branch) = checkout {
            env["COVEN_CHECKOUT_FETCH"] = Checkout.pullHeadRef(number)
            env["COVEN_CHECKOUT_BRANCH"] = branch
        }
        if case .reviewHead(let base, let fetch, let sha) = checkout {
            env["COVEN_CHECKOUT_FETCH"] = fetch
            if let sha { env["COVEN_CHECKOUT_SHA"] = sha }
            env["COVEN_REVIEW_BASE"] = base
        }
        if config.exposeTokenEnv, let token { env["COVEN_GIT_TOKEN"] = token }
        return env
    }
}
