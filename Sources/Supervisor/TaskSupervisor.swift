import Foundation
import Synchronization
import Sandbox

/// Scheduling and retry settings of the supervisor.
public struct SupervisorSettings: Sendable {
    /// Attempts running at once, in all.
    public var globalConcurrency: Int
    /// Attempts running at once for one GitHub installation (tenant).
    public var perInstallationConcurrency: Int
    public var retry: RetryPolicy
    /// How many times a task may be interrupted by the supervisor dying (kill -9, a
    /// crash) before it fails "interrupted too often". Its own budget: crashes do not use
    /// up `retry`, and attempts torn down by a graceful shutdown count against nothing.
    public var maxCrashInterruptions: Int
    /// On SIGTERM/SIGINT: how long running attempts may go on before they are torn down,
    /// and the bound of the whole shutdown but the teardown itself (publications included).
    public var shutdownGrace: Duration
    /// How often the dispatcher looks for tasks whose backoff has passed.
    public var pollInterval: Duration

    public init(globalConcurrency: Int = 2, perInstallationConcurrency: Int = 1, retry: RetryPolicy = RetryPolicy(),
                maxCrashInterruptions: Int = 3, shutdownGrace: Duration = .seconds(30),
                pollInterval: Duration = .milliseconds(250)) {
        self.globalConcurrency = globalConcurrency
        self.perInstallationConcurrency = perInstallationConcurrency
        self.retry = retry
        self.maxCrashInterruptions = max(1, maxCrashInterruptions)
        self.shutdownGrace = shutdownGrace
        self.pollInterval = pollInterval
    }
}

/// Hooks for metrics, called on an attempt's thread. They must return quickly and
/// never block the attempt (count, observe a histogram, nothing more).
public struct AttemptObserver: Sendable {
    /// The attempt's sandbox is running; `latency` is `SandboxHandle.launchLatency`.
    public var sandboxLaunched: @Sendable (_ task: TaskSpec, _ attempt: Int, _ latency: Duration) -> Void
    /// The attempt ended (its `report` is nil when no sandbox ran, e.g. a token failure).
    public var attemptFinished: @Sendable (_ task: TaskSpec, _ attempt: Int, _ outcome: AttemptOutcome, _ report: ExitReport?) -> Void

    public init(sandboxLaunched: @escaping @Sendable (_ task: TaskSpec, _ attempt: Int, _ latency: Duration) -> Void = { _, _, _ in },
                attemptFinished: @escaping @Sendable (_ task: TaskSpec, _ attempt: Int, _ outcome: AttemptOutcome, _ report: ExitReport?) -> Void = { _, _, _, _ in }) {
        self.sandboxLaunched = sandboxLaunched
        self.attemptFinished = attemptFinished
    }
}

/// The durable task loop: claims queued tasks fairly within the concurrency limits,
/// runs each attempt in a sandbox on its own thread, records and classifies it,
/// retries what is retry-safe with backoff, and publishes the lifecycle.
public final class TaskSupervisor: @unchecked Sendable {
    public let store: TaskStore
    public let runner: AttemptRunner
    public let settings: SupervisorSettings
    private let tokens: (any GitTokenProvider)?
    private let checkouts: (any CheckoutResolver)?
    private let publication: PublicationOutbox
    private let log: @Sendable (String, [String: String]) -> Void
    private let observer: AttemptObserver?

    private let cond = NSCondition()
    private var running: [String: RunningAttempt] = [:]   // by task id
    private var stopping = false
    private var tearingDown = false
    private var dispatcher: Thread?
    private var heartbeat: Thread?
    /// The heartbeat outlives `stopping`: attempts finishing during the shutdown's grace
    /// still need their leases.
    private var heartbeatStopped = false
    private var subscription: (any StoreSubscription)?

    final class RunningAttempt: @unchecked Sendable {
        let spec: TaskSpec
        let attempt: Int
        var handle: SandboxHandle?
        var cancelRequested = false
        /// Its lease ran out and another host took the task over: its end is not ours to record.
        var leaseLost = false
        /// The set-up GitHub calls (checkout lookup, git token mint): cancelled by a cancel request or the shutdown's teardown.
        let setupCall = CancellableWait()
        /// The token's revocation: cancelled only by the shutdown's teardown.
        let revokeCall = CancellableWait()
        init(spec: TaskSpec, attempt: Int) { self.spec = spec; self.attempt = attempt }
    }

    public init(store: TaskStore, runner: AttemptRunner, tokens: (any GitTokenProvider)?, publisher: any Publisher,
                settings: SupervisorSettings = SupervisorSettings(),
                log: @escaping @Sendable (String, [String: String]) -> Void = { _, _ in },
                observer: AttemptObserver? = nil, checkouts: (any CheckoutResolver)? = nil) {
        self.store = store
        self.runner = runner
        self.tokens = tokens
        self.checkouts = checkouts
        self.publication = PublicationOutbox(store: store, publisher: publisher, log: log)
        self.settings = settings
        self.log = log
        self.observer = observer
    }

    /// Recovers attempts a previous run left `running` (it was killed or crashed: they
    /// become `interrupted` and count against the crash budget), resumes the publication
    /// outbox, then starts dispatching.
    public func start() throws {
        let recovered = try store.recoverInterrupted(maxCrashInterruptions: settings.maxCrashInterruptions,
                                                     retry: settings.retry)
        for r in recovered {
            log("attempt_interrupted", ["task": r.taskID, "attempt": r.interruptedAttempt.map(String.init) ?? "-", "state": r.state.rawValue])
        }
        publication.start()
        // Sandboxes are cloned from the small launcher process, not from this address space.
        do {
            try Sandbox.startLauncherProcess()
        } catch {
            log("launcher_process_unavailable", ["error": error.message, "effect": "sandboxes are cloned from the daemon itself"])
        }
        if runner.config.network != .host {
            Sandbox.keepNetworkNamespacesReady(min(max(settings.globalConcurrency, 1), 4))
        }
        // Cgroups a previous supervisor could not remove (it was killed) go now.
        let stale = Cgroups.removeStale()
        if !stale.isEmpty { log("stale_cgroups_removed", ["count": String(stale.count)]) }
        // So do their attempt directories (with the egress sockets and out/ tmpfs in them):
        // nothing of ours runs yet, and the attempts recovered above start afresh.
        let staleAttempts = AttemptDirectory.removeStale(in: runner.config.attemptsDirectory)
        if staleAttempts > 0 { log("stale_attempt_directories_removed", ["count": String(staleAttempts)]) }
        let t = Thread { [self] in dispatchLoop() }
        t.name = "supervisor-dispatch"
        dispatcher = t
        t.start()
        subscription = try store.subscribe { [weak self] channel, payload in
            self?.storeNotified(channel: channel, payload: payload)
        }
        if let lease = store.leaseDuration {
            cond.lock(); heartbeatStopped = false; cond.unlock()
            let h = Thread { [self] in heartbeatLoop(lease: lease) }
            h.name = "supervisor-heartbeat"
            heartbeat = h
            h.start()
        }
    }

    /// News from another host sharing the store (a `StoreChannel` notification).
    func storeNotified(channel: String, payload: String) {
        switch channel {
        case StoreChannel.queue: wake()
        case StoreChannel.outbox: publication.wake()
        case StoreChannel.cancel: cancelLocally(taskID: payload, leaseLost: false)
        default: break
        }
    }

    /// Tears down this host's attempt of the task, if it runs one.
    private func cancelLocally(taskID: String, leaseLost: Bool) {
        cond.lock()
        if let r = running[taskID] {
            if leaseLost { r.leaseLost = true } else { r.cancelRequested = true }
            r.handle?.cancel()
            r.setupCall.cancel()
        }
        cond.unlock()
    }

    /// Stores the task with its `queued` publication (durable before this returns) and
    /// wakes the dispatcher and the outbox.
    /// Its installation's limits apply (`TaskStore.insert`): the admission says how.
    @discardableResult
    public func submit(_ spec: TaskSpec) throws -> Admission {
        let admission = try store.insert(spec)
        publication.wake()
        wake()
        return admission
    }

    /// Announces a task that was stored elsewhere (e.g. with its webhook delivery; the
    /// store queued its publication in the same transaction).
    public func announce(_ spec: TaskSpec) {
        publication.wake()
        wake()
    }

    /// Cancels a task: a queued one at once, a running one by tearing its sandbox down.
    public func cancel(taskID: String) throws -> CancelResult {
        let result = try store.cancel(taskID: taskID)
        if case .cancelled = result { publication.wake() }
        cond.lock()
        if let r = running[taskID] {
            r.cancelRequested = true
            r.handle?.cancel()
            r.setupCall.cancel()
        }
        cond.unlock()
        return result
    }

    /// Queues a finished task again (`TaskStore.retry`) and wakes the dispatcher and the
    /// outbox (its `queued` publication).
    public func retry(taskID: String) throws -> RetryResult {
        let result = try store.retry(taskID: taskID)
        if result == .queued {
            publication.wake()
            wake()
        }
        return result
    }

    public var runningTaskIDs: [String] {
        cond.lock(); defer { cond.unlock() }
        return Array(running.keys)
    }

    /// Stops claiming, lets running attempts go on until `deadline` (default: the shutdown
    /// grace from now), then tears them down and records them `interrupted` by the
    /// shutdown: their tasks are queued again, counting against no budget. Meanwhile the
    /// outbox goes on publishing, until it is drained or the deadline passes; what is left
    /// is published at the next start. So the whole takes at most until the deadline plus
    /// the teardown (`AttemptConfig.grace`). Blocks until all attempt threads are done.
    public func shutdown(deadline: Date? = nil) {
        let deadline = deadline ?? Date().addingTimeInterval(settings.shutdownGrace.seconds)
        cond.lock()
        stopping = true
        cond.broadcast()
        while !running.isEmpty && Date() < deadline { _ = cond.wait(until: deadline) }
        if !running.isEmpty {
            tearingDown = true
            for r in running.values {
                r.handle?.cancel()
                r.setupCall.cancel()
                r.revokeCall.cancel()
            }
            while !running.isEmpty { cond.wait() }
        }
        cond.unlock()
        publication.drain(until: deadline)
        publication.stop()
        cond.lock(); heartbeatStopped = true; cond.broadcast(); cond.unlock()
        subscription?.cancel()
    }

    /// Waits until no publication is due and none is being delivered, or `timeout`.
    @discardableResult
    public func flushPublications(timeout: TimeInterval = 30) -> Bool {
        publication.drain(until: Date().addingTimeInterval(timeout))
    }

    /// Blocks until the task reaches a final state (or `timeout`), returning its record.
    public func waitForFinalState(taskID: String, timeout: Duration) -> TaskDetail? {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let d = try? store.task(id: taskID), [.completed, .failed, .cancelled].contains(d.record.state) {
                cond.lock()
                let stillRunning = running[taskID] != nil
                cond.unlock()
                if !stillRunning { return d }
            }
            cond.lock()
            _ = cond.wait(until: Date().addingTimeInterval(0.05))
            cond.unlock()
        }
        return try? store.task(id: taskID)
    }

    private func wake() {
        cond.lock(); cond.broadcast(); cond.unlock()
    }

    // MARK: - Leases (a store shared by a fleet)

    /// Every third of a lease: renews this host's leases, stops the attempts it no longer
    /// holds (taken over while this host was cut off or stopped) or holds with a cancel
    /// request, and takes over other hosts' attempts whose leases ran out. Cut off from the
    /// database for a whole lease, it stops its attempts itself: another host takes them.
    private func heartbeatLoop(lease: TimeInterval) {
        var lastRenewal = Date()
        cond.lock()
        while !heartbeatStopped {
            _ = cond.wait(until: Date().addingTimeInterval(lease / 3))
            if heartbeatStopped { break }
            let mine = running.values.map { AttemptKey(taskID: $0.spec.id, number: $0.attempt) }
            cond.unlock()
            do {
                let renewal = try store.renewLeases()
                lastRenewal = Date()
                // Not renewed: taken over, or simply recorded since `mine` was read.
                for key in mine where !renewal.held.contains(key)
                    && (try? store.attemptState(taskID: key.taskID, number: key.number)) == .interrupted {
                    log("lease_lost", ["task": key.taskID, "attempt": String(key.number)])
                    cancelLocally(taskID: key.taskID, leaseLost: true)
                }
                for id in renewal.cancelRequested { cancelLocally(taskID: id, leaseLost: false) }
                let taken = try store.recoverExpiredLeases(maxCrashInterruptions: settings.maxCrashInterruptions,
                                                           retry: settings.retry)
                for r in taken {
                    log("lease_expired", ["task": r.taskID, "attempt": r.interruptedAttempt.map(String.init) ?? "-",
                                          "state": r.state.rawValue])
                }
                if !taken.isEmpty { publication.wake(); wake() }
            } catch {
                log("heartbeat_failed", ["error": "\(error)"])
                if Date().timeIntervalSince(lastRenewal) > lease {
                    for key in mine { cancelLocally(taskID: key.taskID, leaseLost: true) }
                }
            }
            cond.lock()
        }
        cond.unlock()
    }

    // MARK: - Dispatch

    private func dispatchLoop() {
        cond.lock()
        while !stopping {
            while running.count < settings.globalConcurrency && !stopping {
                let claim: (spec: TaskSpec, attempt: Int)?
                do {
                    claim = try store.claimNext(globalLimit: settings.globalConcurrency,
                                                perInstallationLimit: settings.perInstallationConcurrency)
                } catch {
                    log("claim_failed", ["error": "\(error)"])
                    claim = nil
                }
                guard let claim else { break }
                let r = RunningAttempt(spec: claim.spec, attempt: claim.attempt)
                running[claim.spec.id] = r
                let t = Thread { [self] in runAttempt(r) }
                t.name = "attempt-\(claim.spec.id)-\(claim.attempt)"
                t.start()
            }
            _ = cond.wait(until: Date().addingTimeInterval(settings.pollInterval.seconds))
        }
        cond.unlock()
    }

    private func runAttempt(_ r: RunningAttempt) {
        let spec = r.spec
        publication.wake()   // the claim queued its `started` publication
        log("attempt_started", ["task": spec.id, "attempt": String(r.attempt)])

        // What to check out (a pull request's head, looked up for this attempt), then the git
        // token: GitHub calls, cancellable, so a cancel or the shutdown never waits for them.
        var checkout: Checkout?
        var reviewFiles: [String] = []
        var token: String?
        var setupFailure: AttemptOutcome? = Self.refusal(spec)
        if let checkouts, setupFailure == nil {
            switch r.setupCall.run({ try await checkouts.checkout(for: spec) }) {
            case .success(let c): checkout = c
            case .failure(CheckoutError.pullRequestNotFound(let n)):
                // Retrying cannot bring the pull request back.
                setupFailure = AttemptOutcome(attemptClass: .failed, disposition: .failure,
                                              reason: "pull request #\(n) not found")
            case .failure(let e as CheckoutError):
                setupFailure = AttemptClassifier.classifyInfraFailure(stage: "checkout", detail: e.description)
            case .failure(let e):
                setupFailure = AttemptClassifier.classifyInfraFailure(stage: "checkout", detail: Redactor.redactShapes("\(e)"))
            }
            if spec.kind.isReview, setupFailure == nil {
                switch r.setupCall.run({ try await checkouts.reviewFiles(for: spec) }) {
                case .success(let files): reviewFiles = files
                case .failure(let e):
                    setupFailure = AttemptClassifier.classifyInfraFailure(stage: "review files", detail: Redactor.redactShapes("\(e)"))
                }
            }
        }
        if let tokens, setupFailure == nil {
            switch r.setupCall.run({ try await tokens.gitToken(for: spec) }) {
            case .success(let t): token = t
            case .failure(let e):
                setupFailure = AttemptClassifier.classifyInfraFailure(stage: "git token", detail: Redactor.redactShapes("\(e)"))
            }
        }

        let run: AttemptRun
        if setupFailure != nil && r.setupCall.isCancelled {
            // Cancelled (or torn down by the shutdown) before any sandbox ran.
            run = AttemptRun(outcome: AttemptOutcome(attemptClass: .cancelled, disposition: .cancelled,
                                                     reason: "cancelled while waiting for GitHub (checkout or git token)"),
                             report: nil, stdout: .empty, stderr: .empty, askpass: [])
        } else if let setupFailure {
            run = AttemptRun(outcome: setupFailure,
                             report: nil, stdout: Redactor().redact(Data()), stderr: Redactor().redact(Data()), askpass: [])
        } else {
            run = runner.run(task: spec, attempt: r.attempt, token: token, checkout: checkout,
                             reviewFiles: reviewFiles) { [self] handle in
                observer?.sandboxLaunched(spec, r.attempt, handle.launchLatency)
                cond.lock()
                r.handle = handle
                let cancelNow = r.cancelRequested || tearingDown
                cond.unlock()
                if cancelNow { handle.cancel() }
            }
        }

        cond.lock()
        // Torn down by the shutdown (or because its lease was lost), not ended by itself or
        // by a cancel request: an interruption, which requeues the task uncounted (and
        // which the store refuses when another host has taken the task over).
        let shutdownTeardown = (tearingDown || r.leaseLost) && !r.cancelRequested && run.outcome.attemptClass == .cancelled
        cond.unlock()
        if shutdownTeardown { recordShutdownInterruption(r, run) } else { record(r, run) }
        // The store keeps a shutdown teardown as an interruption; the log and metrics say so too.
        let outcome = shutdownTeardown
            ? AttemptOutcome(attemptClass: .interrupted, disposition: .cancelled, reason: "interrupted by the shutdown")
            : run.outcome
        observer?.attemptFinished(spec, r.attempt, outcome, run.report)
        var fields = ["task": spec.id, "attempt": String(r.attempt), "class": outcome.attemptClass.rawValue,
                      "reason": outcome.reason]
        if let e = run.egress?.totals {
            fields["egress_allowed"] = String(e.connectionsAllowed)
            fields["egress_denied"] = String(e.connectionsDenied)
            fields["egress_bytes"] = String(e.bytesUp + e.bytesDown)
        }
        log("attempt_finished", fields)
        if let tokens, let token { revoke(token, of: r, with: tokens) }

        cond.lock()
        running[spec.id] = nil
        cond.broadcast()
        cond.unlock()
    }

    /// Work the task's familiar cannot do, refused before anything runs (no sandbox, no
    /// token): a review needs contract v2, which has the `review` result.
    static func refusal(_ spec: TaskSpec) -> AttemptOutcome? {
        guard spec.kind.isReview, spec.contractVersion < 2 else { return nil }
        return AttemptOutcome(attemptClass: .failed, disposition: .failure,
                              reason: "refused: familiar \(spec.familiar.id) speaks contract v\(spec.contractVersion), and a "
                                  + "pull-request review needs contract v2 (set familiars[].contract_version to 2)")
    }

    /// Revokes the attempt's git token once the attempt is over and recorded: whatever the
    /// runtime kept of it is worthless from now on. Waits at most until the shutdown's
    /// teardown; a failure is logged (the token expires within the hour anyway).
    private func revoke(_ token: String, of r: RunningAttempt, with tokens: any GitTokenProvider) {
        let spec = r.spec
        if case .failure(let error) = r.revokeCall.run({ try await tokens.revokeGitToken(token, for: spec) }) {
            log("git_token_revoke_failed", ["task": spec.id, "attempt": String(r.attempt),
                                            "error": Redactor(secrets: [token]).redact("\(error)")])
        }
    }

    /// Writes the attempt and moves the task on (complete, retry later, fail or cancel)
    /// in one transaction, with the publication of a final state.
    private func record(_ r: RunningAttempt, _ run: AttemptRun) {
        let spec = r.spec
        do {
            let transition = try store.recordAttempt(
                taskID: spec.id, attempt: r.attempt,
                AttemptEnd(report: run.report, outcome: run.outcome, stdout: run.stdout, stderr: run.stderr,
                           egressLog: run.egress?.jsonString, egressBytes: run.egressBytes),
                retry: settings.retry)
            CrashPoint.attemptRecorded.reached()
            if case .requeued(let notBefore) = transition {
                log("attempt_retry", ["task": spec.id, "after_s": String(format: "%.1f", max(0, notBefore.timeIntervalSinceNow))])
            } else {
                publication.wake()
            }
        } catch StoreError.leaseLost {
            log("attempt_finish_refused", ["task": spec.id, "attempt": String(r.attempt),
                                           "reason": "lease lost: another host took the task over"])
        } catch {
            log("record_failed", ["task": spec.id, "error": "\(error)"])
        }
    }

    /// The shutdown tore the attempt down: kept as interrupted, its task queued again
    /// (uncounted) for the next start.
    private func recordShutdownInterruption(_ r: RunningAttempt, _ run: AttemptRun) {
        do {
            let transition = try store.recordShutdownInterruption(taskID: r.spec.id, attempt: r.attempt, report: run.report,
                                                                 stdout: run.stdout, stderr: run.stderr,
                                                                 egressLog: run.egress?.jsonString,
                                                                 egressBytes: run.egressBytes)
            if transition == .cancelled { publication.wake() }
        } catch StoreError.leaseLost {
            log("attempt_finish_refused", ["task": r.spec.id, "attempt": String(r.attempt),
                                           "reason": "lease lost: another host took the task over"])
        } catch {
            log("record_failed", ["task": r.spec.id, "error": "\(error)"])
        }
    }
}
