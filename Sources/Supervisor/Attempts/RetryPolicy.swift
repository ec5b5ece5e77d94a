import Foundation

/// How often and how soon a retry-safe attempt is tried again.
///
/// The n-th finished attempt (1-based) that ends retry-safe is retried when n ≤ maxRetries;
/// the delay before retry r (r = n, 1-based) is min(cap, base × 2^(r−1) × U[1−jitter, 1+jitter]).
/// With the defaults: ≈2 s, ≈4 s, then the task fails after its third attempt.
public struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first attempt (default 2, so up to 3 attempts).
    public var maxRetries: Int
    /// Delay before the first retry, in seconds (default 2).
    public var baseDelay: Double
    /// Upper bound of any delay, in seconds (default 60).
    public var maxDelay: Double
    /// Relative jitter: 0.2 means ±20 %.
    public var jitter: Double

    public init(maxRetries: Int = 2, baseDelay: Double = 2, maxDelay: Double = 60, jitter: Double = 0.2) {
        self.maxRetries = max(0, maxRetries)
        self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(0, maxDelay)
        self.jitter = min(max(0, jitter), 1)
    }

    /// The most finished attempts a task gets (maxRetries + 1). Interrupted attempts do
    /// not count: a shutdown's never, a crash's against the crash budget
    /// (`SupervisorSettings.maxCrashInterruptions`).
    public var maxAttempts: Int { maxRetries + 1 }

    /// Whether a task with `attempt` finished attempts, the last classified `outcome`,
    /// gets another.
    public func shouldRetry(afterAttempt attempt: Int, outcome: AttemptOutcome) -> Bool {
        outcome.attemptClass == .retrySafe && attempt < maxAttempts
    }

    /// The delay without jitter before retry `retry` (1-based): min(cap, base × 2^(retry−1)).
    public func nominalDelay(beforeRetry retry: Int) -> Double {
        let exponent = Double(max(1, retry) - 1)
        return min(maxDelay, baseDelay * pow(2, min(exponent, 1000)))
    }

    /// The jittered delay before retry `retry` (1-based), drawing one UInt64 from `rng`:
    /// factor = 1 − jitter + 2·jitter·u with u = (next() >> 11) / 2^53, so a generator
    /// returning 0 gives the lowest factor (0.8 by default).
    public func delay<R: RandomNumberGenerator>(beforeRetry retry: Int, using rng: inout R) -> Double {
        let nominal = baseDelay * pow(2, min(Double(max(1, retry) - 1), 1000))
        // One draw, mapped by hand (not Double.random(in:using:), whose algorithm may
        // change and may draw more than once): the top 53 bits give u in [0, 1).
        let u = Double(rng.next() >> 11) * 0x1p-53
        let factor = 1 - jitter + 2 * jitter * u
        return min(maxDelay, nominal * factor)
    }

    /// The jittered delay before retry `retry`, from the system RNG.
    public func delay(beforeRetry retry: Int) -> Double {
        var rng = SystemRandomNumberGenerator()
        return delay(beforeRetry: retry, using: &rng)
    }
}

/// A small deterministic RNG (SplitMix64) for tests and reproducible jitter.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
