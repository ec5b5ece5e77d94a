import Foundation

/// Delivers the store's publication outbox to the publisher, off the attempt threads (a
/// slow or unreachable GitHub never holds up a sandbox).
///
/// Events are written to the store in the transaction of the state change they announce
/// (at most one pending per task, `TaskStore`), so they survive a crash and take no
/// memory while they wait: one worker thread reads the event that has been due longest,
/// delivers it, and deletes it only then. After a crash an event may be delivered again;
/// publishers make that harmless. A delivery that asks to be retried
/// (`PublicationError.retryLater`) backs off: the event for 2^(tries−1) s (at most 5
/// min), the worker for as many seconds as deliveries have failed in a row (at most 30);
/// the first success makes every backed-off event due again. At `start` every pending
/// event is due.
public final class PublicationOutbox: @unchecked Sendable {
    private let store: TaskStore
    private let publisher: any Publisher
    private let log: @Sendable (String, [String: String]) -> Void

    private let cond = NSCondition()
    private var thread: Thread?
    private var stopping = false
    /// A delivery is in flight.
    private var busy = false
    /// Something was posted since the worker last looked.
    private var posted = false
    /// The delivery in flight, cancelled by `stop`.
    private let delivery = CancellableWait()

    /// Longest backoff of one event, and longest pause of the worker.
    static let maxEventBackoff: TimeInterval = 300
    static let maxPause: TimeInterval = 30

    public init(store: TaskStore, publisher: any Publisher, log: @escaping @Sendable (String, [String: String]) -> Void = { _, _ in }) {
        self.store = store
        self.publisher = publisher
        self.log = log
    }

    /// Resumes what a previous run left (every pending event due now) and starts the worker.
    public func start() {
        cond.lock()
        defer { cond.unlock() }
        guard thread == nil, !stopping else { return }
        do {
            try store.releaseOwnPublicationClaims()
            try store.makePublicationsDue()
        } catch { log("publication_failed", ["error": "\(error)"]) }
        let t = Thread { [self] in loop() }
        t.name = "publication-outbox"
        thread = t
        t.start()
    }

    /// Tells the worker an event was written.
    public func wake() {
        cond.lock(); posted = true; cond.broadcast(); cond.unlock()
    }

    /// Blocks until no event is due and none is being delivered, or until `deadline`.
    /// Events backing off are left for later (or the next start). True when drained.
    @discardableResult
    public func drain(until deadline: Date) -> Bool {
        while true {
            cond.lock()
            let idle = !busy && !posted
            cond.unlock()
            if idle, (try? store.nextPublication()) == nil { return true }
            if Date() >= deadline { return false }
            cond.lock()
            _ = cond.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
            cond.unlock()
        }
    }

    /// The worker takes no further event, and the delivery in flight is cancelled (a GitHub
    /// call that hangs must not hold the shutdown): that event stays in the store and is
    /// delivered again at the next start.
    public func stop() {
        cond.lock(); stopping = true; cond.broadcast(); cond.unlock()
        delivery.cancel()
    }

    private func loop() {
        var failuresInARow = 0
        while true {
            cond.lock()
            if stopping { cond.unlock(); return }
            posted = false
            cond.unlock()

            let next: PendingPublication?
            do { next = try store.takePublication() } catch {
                log("publication_failed", ["error": "\(error)"])
                pause(1)
                continue
            }
            guard let next else {
                let due = try? store.nextPublicationDueDate()
                cond.lock()
                while !posted && !stopping && Date() < min(due ?? .distantFuture, Date().addingTimeInterval(60)) {
                    _ = cond.wait(until: min(due ?? .distantFuture, Date().addingTimeInterval(60)))
                }
                cond.unlock()
                continue
            }

            cond.lock(); busy = true; cond.unlock()
            let failure = deliver(next.event)
            cond.lock()
            if stopping {
                // Cut short by `stop`: whatever it did, the event stays for the next start
                // (or, in a fleet, for another host at once).
                busy = false; cond.broadcast(); cond.unlock()
                if store.isShared { try? store.releasePublication(taskID: next.event.task.id) }
                return
            }
            cond.unlock()
            do {
                if let failure {
                    failuresInARow += 1
                    let backoff = min(Self.maxEventBackoff, pow(2, Double(min(next.tries, 20))))
                    try store.publicationDeferred(seq: next.seq, until: Date().addingTimeInterval(backoff), error: failure,
                                                  taskID: next.event.task.id)
                    log("publication_deferred", ["task": next.event.task.id, "publication": next.event.name,
                                                 "tries": String(next.tries + 1), "retry_in_s": String(Int(backoff)),
                                                 "error": failure])
                } else {
                    try store.publicationDelivered(seq: next.seq, taskID: next.event.task.id)
                    if failuresInARow > 0 {
                        failuresInARow = 0
                        try store.makePublicationsDue()   // the far end answers again
                    }
                }
            } catch {
                log("publication_failed", ["task": next.event.task.id, "error": "\(error)"])
            }
            cond.lock(); busy = false; cond.broadcast(); cond.unlock()
            if failuresInARow > 0 { pause(min(Self.maxPause, Double(failuresInARow))) }
        }
    }

    /// Waits `seconds`, or less when stopping.
    private func pause(_ seconds: TimeInterval) {
        let end = Date().addingTimeInterval(seconds)
        cond.lock()
        while !stopping && Date() < end { _ = cond.wait(until: end) }
        cond.unlock()
    }

    /// Runs the publisher for one event on this thread's behalf; the retry reason, or nil.
    private func deliver(_ event: PublicationEvent) -> String? {
        let publisher = self.publisher
        let outcome = delivery.run { () async -> String? in
            do throws(PublicationError) {
                try await publisher.publish(event)
                return nil
            } catch {
                switch error { case .retryLater(let reason): return reason }
            }
        }
        if case .success(let reason) = outcome { return reason }
        return "cancelled"
    }
}
