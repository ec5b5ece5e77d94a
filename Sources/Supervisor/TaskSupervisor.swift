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
    /// On SIGTERM/SIGINT: how long running attempts may go on before they are torn down.
    public var shutdownGrace: Duration
    /// How often the dispatcher looks for tasks whose backoff has passed.
    public var pollInterval: Duration

    public init(globalConcurrency: Int = 2, perInstallationConcurrency: Int = 1, retry: RetryPolicy = RetryPolicy(),
                shutdownGrace: Duration = .seconds(30), pollInterval: Duration = .milliseconds(250)) {
        self.globalConcurrency = globalConcurrency
        self.perInstallationConcurrency = perInstallationConcurrency
        self.retry = retry
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
    private let publication: PublicationQueue
    private let log: @Sendable (String, [String: String]) -> Void
    private let observer: AttemptObserver?

    private let cond = NSCondition()
    private var running: [String: RunningAttempt] = [:]   // by task id
    private var stopping = false
    private var tearingDown = false
    private var dispatcher: Thread?

    final class RunningAttempt: @unchecked Sendable {
        let spec: TaskSpec
        let attempt: Int
        var handle: SandboxHandle?
        var cancelRequested = false
        init(spec: TaskSpec, attempt: Int) { self.spec = spec; self.attempt = attempt }
    }

    public init(store: TaskStore, runner: AttemptRunner, tokens: (any GitTokenProvider)?, publisher: any Publisher,
                settings: SupervisorSettings = SupervisorSettings(),
                log: @escaping @Sendable (String, [String: String]) -> Void = { _, _ in },
                observer: AttemptObserver? = nil) {
        self.store = store
        self.runner = runner
        self.tokens = tokens
        self.publication = PublicationQueue(publisher: publisher)
        self.settings = settings
        self.log = log
        self.observer = observer
    }

    /// Recovers attempts a previous run left `running` (they become `interrupted`
    /// and count against the retry budget), then starts dispatching.
    public func start() throws {
        let recovered = try store.recoverInterrupted(maxAttempts: settings.retry.maxAttempts)
        for r in recovered {
            log("attempt_interrupted", ["task": r.taskID, "attempt": r.interruptedAttempt.map(String.init) ?? "-", "state": r.state.rawValue])
            if r.state == .failed, let detail = try? store.task(id: r.taskID) {
                publication.taskFinished(detail.record.spec, outcome: TaskOutcome(state: .failed, disposition: .failure,
                                                                                  reason: detail.record.finalReason))
            }
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
    }

    /// Stores the task (durable before this returns) and wakes the dispatcher.
    public func submit(_ spec: TaskSpec) throws {
        try store.insert(spec)
        publication.taskQueued(spec)
        wake()
    }

    /// Announces a task that was stored elsewhere (e.g. with its webhook delivery).
    public func announce(_ spec: TaskSpec) {
        publication.taskQueued(spec)
        wake()
    }

    /// Cancels a task: a queued one at once, a running one by tearing its sandbox down.
    public func cancel(taskID: String) throws -> CancelResult {
        let result = try store.cancel(taskID: taskID)
        if case .cancelled = result, let detail = try? store.task(id: taskID) {
            publication.taskFinished(detail.record.spec, outcome: TaskOutcome(state: .cancelled, disposition: .cancelled,
                                                                              reason: detail.record.finalReason))
        }
        cond.lock()
        if let r = running[taskID] {
            r.cancelRequested = true
            r.handle?.cancel()
        }
        cond.unlock()
        return result
    }

    public var runningTaskIDs: [String] {
        cond.lock(); defer { cond.unlock() }
        return Array(running.keys)
    }

    /// Stops claiming, lets running attempts go on for the shutdown grace, then tears
    /// them down. Their attempts stay `running` in the store and become
    /// `interrupted` at the next start. Blocks until all attempt threads are done.
    public func shutdown() {
        cond.lock()
        stopping = true
        cond.broadcast()
        let deadline = Date().addingTimeInterval(settings.shutdownGrace.seconds)
        while !running.isEmpty && Date() < deadline { _ = cond.wait(until: deadline) }
        if !running.isEmpty {
            tearingDown = true
            for r in running.values { r.handle?.cancel() }
            while !running.isEmpty { cond.wait() }
        }
        cond.unlock()
        publication.flush()
    }

    /// Waits for every publisher event posted so far (for short-lived commands).
    public func flushPublications(timeout: TimeInterval = 30) { publication.flush(timeout: timeout) }

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
        publication.attemptStarted(spec, attempt: r.attempt)
        log("attempt_started", ["task": spec.id, "attempt": String(r.attempt)])

        var token: String?
        var tokenError: String?
        if let tokens {
            let box = UnsafeSendableBox<Result<String, Error>?>(nil)
            let sem = DispatchSemaphore(value: 0)
            Task.detached {
                do { box.value = .success(try await tokens.gitToken(for: spec)) } catch { box.value = .failure(error) }
                sem.signal()
            }
            sem.wait()
            switch box.value {
            case .success(let t): token = t
            case .failure(let e): tokenError = Redactor.redactShapes("\(e)")
            case nil: tokenError = "token provider returned nothing"
            }
        }

        let run: AttemptRun
        if let tokenError {
            run = AttemptRun(outcome: AttemptClassifier.classifyInfraFailure(stage: "git token", detail: tokenError),
                             report: nil, stdout: Redactor().redact(Data()), stderr: Redactor().redact(Data()), askpass: [])
        } else {
            run = runner.run(task: spec, attempt: r.attempt, token: token) { [self] handle in
                observer?.sandboxLaunched(spec, r.attempt, handle.launchLatency)
                cond.lock()
                r.handle = handle
                let cancelNow = r.cancelRequested || tearingDown
                cond.unlock()
                if cancelNow { handle.cancel() }
            }
        }

        cond.lock()
        let shutdownTeardown = tearingDown && !r.cancelRequested
        cond.unlock()
        if !shutdownTeardown { record(r, run) }
        observer?.attemptFinished(spec, r.attempt, run.outcome, run.report)
        var fields = ["task": spec.id, "attempt": String(r.attempt), "class": run.outcome.attemptClass.rawValue,
                      "reason": run.outcome.reason]
        if let e = run.egress?.totals {
            fields["egress_allowed"] = String(e.connectionsAllowed)
            fields["egress_denied"] = String(e.connectionsDenied)
            fields["egress_bytes"] = String(e.bytesUp + e.bytesDown)
        }
        log("attempt_finished", fields)

        cond.lock()
        running[spec.id] = nil
        cond.broadcast()
        cond.unlock()
    }

    /// Writes the attempt and moves the task on: complete, retry later, fail or cancel.
    private func record(_ r: RunningAttempt, _ run: AttemptRun) {
        let spec = r.spec
        let o = run.outcome
        do {
            try store.finishAttempt(taskID: spec.id, attempt: r.attempt, report: run.report, classification: o.attemptClass,
                                    note: o.noteText.isEmpty ? nil : o.noteText, stdout: run.stdout, stderr: run.stderr,
                                    egressLog: run.egress?.jsonString)
            let final: TaskOutcome?
            switch o.attemptClass {
            case .completed:
                try store.complete(taskID: spec.id, disposition: o.disposition, result: o.result,
                                   note: o.notes.isEmpty ? nil : o.notes.joined(separator: "; "))
                final = TaskOutcome(state: .completed, disposition: o.disposition, result: o.result)
            case .cancelled:
                _ = try store.cancel(taskID: spec.id)
                final = TaskOutcome(state: .cancelled, disposition: .cancelled, reason: "cancelled")
            case .retrySafe where settings.retry.shouldRetry(afterAttempt: r.attempt, outcome: o):
                let delay = settings.retry.delay(beforeRetry: r.attempt)
                let state = try store.requeue(taskID: spec.id, notBefore: Date().addingTimeInterval(delay))
                final = state == .cancelled ? TaskOutcome(state: .cancelled, disposition: .cancelled, reason: "cancelled") : nil
                if final == nil { log("attempt_retry", ["task": spec.id, "after_s": String(format: "%.1f", delay)]) }
            default:
                let reason = r.attempt >= settings.retry.maxAttempts && o.isRetrySafe
                    ? "gave up after \(r.attempt) attempts: \(o.reason)" : o.reason
                try store.fail(taskID: spec.id, reason: reason)
                final = TaskOutcome(state: .failed, disposition: .failure, reason: reason)
            }
            if let final { publication.taskFinished(spec, outcome: final) }
        } catch {
            log("record_failed", ["task": spec.id, "error": "\(error)"])
        }
    }
}
