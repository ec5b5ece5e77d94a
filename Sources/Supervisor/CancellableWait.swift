import Foundation

/// Runs async work (a GitHub call) on behalf of a plain thread and blocks that thread
/// until the work ends: on a semaphore, so waiting costs no CPU however long GitHub takes.
/// `cancel()`, from any thread, cancels the work in flight and every later `run`, so a
/// shutdown or a cancel request never waits for an unanswered call.
public final class CancellableWait: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, Never>?
    private var cancelled = false

    public init() {}

    /// True once `cancel()` was called.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    /// Runs `body` to its end (or its cancellation: then usually `CancellationError`).
    public func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = UnsafeSendableBox<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let t = Task.detached {
            do { box.value = .success(try await body()) } catch { box.value = .failure(error) }
            done.signal()
        }
        lock.lock()
        task = t
        let cancelNow = cancelled
        lock.unlock()
        if cancelNow { t.cancel() }
        done.wait()
        lock.lock()
        task = nil
        lock.unlock()
        return box.value ?? .failure(CancellationError())
    }

    /// Cancels the work in flight, and makes every later `run` start cancelled.
    public func cancel() {
        lock.lock()
        cancelled = true
        let t = task
        lock.unlock()
        t?.cancel()
    }
}
