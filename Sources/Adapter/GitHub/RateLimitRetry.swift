import Foundation

/// When a GitHub REST call is tried again, and how long to wait first.
///
/// - 5xx: retried after `Retry-After` when GitHub sends one, else after
///   `baseDelay × 2^(retry−1)` (1 s, 2 s, 4 s with the defaults).
/// - Rate limits (GitHub's documented signals):
///   - 403 or 429 with `Retry-After: <seconds>` → wait that long;
///   - 403 or 429 with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset: <epoch>` → wait
///     until the reset;
///   - 429, or 403 whose message mentions a secondary rate limit, with neither header →
///     wait one minute (GitHub's advice).
/// - No response at all (refused, reset, timed out): retried like a 5xx.
/// - Any other status fails at once.
///
/// Bounded twice: at most `maxRetries` retries, and never a single wait longer than
/// `maxWait`: when GitHub asks for more (a primary limit resetting in 40 minutes), the
/// call fails at once with `.rateLimited` rather than stalling its caller.
/// `sleep` is injectable so tests can record the waits instead of sleeping.
public struct GitHubRetryPolicy: Sendable {
    /// Retries after the first try (default 3, so at most 4 requests).
    public var maxRetries: Int
    /// The longest single wait honoured, in seconds (default 60).
    public var maxWait: TimeInterval
    /// First backoff for 5xx and transport failures without `Retry-After` (default 1 s).
    public var baseDelay: TimeInterval
    /// Waits the given number of seconds (throws on cancellation).
    public var sleep: @Sendable (TimeInterval) async throws -> Void

    public init(maxRetries: Int = 3, maxWait: TimeInterval = 60, baseDelay: TimeInterval = 1,
                sleep: @escaping @Sendable (TimeInterval) async throws -> Void = GitHubRetryPolicy.taskSleep) {
        self.maxRetries = max(0, maxRetries)
        self.maxWait = max(0, maxWait)
        self.baseDelay = max(0, baseDelay)
        self.sleep = sleep
    }

    /// Never retries.
    public static let none = GitHubRetryPolicy(maxRetries: 0)

    /// `Task.sleep`, the default.
    public static let taskSleep: @Sendable (TimeInterval) async throws -> Void = { seconds in
        guard seconds > 0 else { return }
        try await Task.sleep(nanoseconds: UInt64(min(seconds, 86_400) * 1_000_000_000))
    }

    /// What to do after a response (or its absence).
    public enum Verdict: Sendable, Equatable {
        /// Wait this many seconds, then send again.
        case retry(after: TimeInterval)
        /// Stop: `rateLimited` tells whether it was a rate limit; `wait` is what GitHub
        /// asked for when it was more than `maxWait`.
        case giveUp(rateLimited: Bool, wait: TimeInterval?)
    }

    /// The verdict for an error response.
    /// - Parameters:
    ///   - status: the HTTP status (not 2xx).
    ///   - header: looks up a response header (case-insensitively).
    ///   - message: GitHub's `message`, if any.
    ///   - retriesSoFar: retries already made for this call.
    ///   - now: the current time (for `X-RateLimit-Reset`).
    public func verdict(status: Int, header: (String) -> String?, message: String?,
                        retriesSoFar: Int, now: Date) -> Verdict {
        let rateWait = Self.rateLimitWait(status: status, header: header, message: message, now: now)
        let isRateLimit = rateWait != nil
        let wait: TimeInterval
        if let rateWait {
            wait = rateWait
        } else if (500...599).contains(status) {
            wait = Self.retryAfter(header) ?? backoff(retry: retriesSoFar + 1)
        } else {
            return .giveUp(rateLimited: false, wait: nil)
        }
        if wait > maxWait { return .giveUp(rateLimited: isRateLimit, wait: wait) }
        if retriesSoFar >= maxRetries { return .giveUp(rateLimited: isRateLimit, wait: nil) }
        return .retry(after: wait)
    }

    /// The verdict after a failure with no HTTP response.
    public func verdictAfterTransportFailure(retriesSoFar: Int) -> Verdict {
        retriesSoFar >= maxRetries ? .giveUp(rateLimited: false, wait: nil) : .retry(after: backoff(retry: retriesSoFar + 1))
    }

    /// `baseDelay × 2^(retry−1)`, capped at `maxWait`.
    public func backoff(retry: Int) -> TimeInterval {
        min(maxWait, baseDelay * pow(2, Double(min(max(1, retry) - 1, 30))))
    }

    /// How long GitHub asks to wait when the response is a rate limit; nil when it is not one.
    public static func rateLimitWait(status: Int, header: (String) -> String?, message: String?, now: Date) -> TimeInterval? {
        guard status == 403 || status == 429 else { return nil }
        if let after = retryAfter(header) { return after }
        if header("X-RateLimit-Remaining")?.trimmingCharacters(in: .whitespaces) == "0",
           let reset = header("X-RateLimit-Reset").flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
            return max(0, (reset - now.timeIntervalSince1970).rounded(.up))
        }
        if status == 429 { return 60 }
        if let m = message?.lowercased(), m.contains("secondary rate limit") || m.contains("abuse detection") {
            return 60
        }
        return nil
    }

    /// `Retry-After` in seconds (GitHub sends delta-seconds, not HTTP dates).
    static func retryAfter(_ header: (String) -> String?) -> TimeInterval? {
        guard let v = header("Retry-After")?.trimmingCharacters(in: .whitespaces), let n = Double(v), n >= 0, n.isFinite
        else { return nil }
        return n
    }
}
