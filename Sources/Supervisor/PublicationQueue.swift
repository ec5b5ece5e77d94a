import Foundation

/// Delivers publisher events one at a time, in the order they were posted, off the
/// attempt threads (a slow GitHub never holds up a sandbox). `flush` waits until
/// everything posted so far was delivered.
public final class PublicationQueue: Sendable {
    enum Event: Sendable {
        case queued(TaskSpec)
        case started(TaskSpec, Int)
        case finished(TaskSpec, TaskOutcome)
    }

    /// Events posted but not yet delivered, guarded by its condition.
    final class Pending: @unchecked Sendable {
        let cond = NSCondition()
        var count = 0
        func add(_ n: Int) {
            cond.lock(); count += n; cond.broadcast(); cond.unlock()
        }
    }

    private let continuation: AsyncStream<Event>.Continuation
    private let pending = Pending()

    public init(publisher: any Publisher) {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        self.continuation = continuation
        let pending = self.pending
        Task.detached {
            for await event in stream {
                switch event {
                case .queued(let t): await publisher.taskQueued(t)
                case .started(let t, let n): await publisher.attemptStarted(t, attempt: n)
                case .finished(let t, let o): await publisher.taskFinished(t, outcome: o)
                }
                pending.add(-1)
            }
        }
    }

    func post(_ event: Event) {
        pending.add(1)
        continuation.yield(event)
    }

    public func taskQueued(_ t: TaskSpec) { post(.queued(t)) }
    public func attemptStarted(_ t: TaskSpec, attempt: Int) { post(.started(t, attempt)) }
    public func taskFinished(_ t: TaskSpec, outcome: TaskOutcome) { post(.finished(t, outcome)) }

    /// Blocks until every event posted so far was delivered, or `timeout` passed.
    @discardableResult
    public func flush(timeout: TimeInterval = 30) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        pending.cond.lock()
        defer { pending.cond.unlock() }
        while pending.count > 0 {
            if !pending.cond.wait(until: end) { return false }
        }
        return true
    }
}
