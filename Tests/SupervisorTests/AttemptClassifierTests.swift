import XCTest
import Sandbox
@testable import Supervisor

final class AttemptClassifierTests: XCTestCase {
    private func exit(_ c: ExitClass) -> ExitReport { ExitReport(exitClass: c) }
    private func classify(_ c: ExitClass, _ r: Result<ResultEnvelope, ContractViolation>?) -> AttemptOutcome {
        AttemptClassifier.classify(exit: exit(c), result: r)
    }
    private let symlink = ContractViolation(.resultIsSymlink, "result is a symlink")

    // Row: exited 0, 1, 3 + valid → completed, never retried.
    func testExit0WithValidSuccessIsCompletedSuccess() {
        let o = classify(.exited(code: 0), .success(Fixtures.result(.success)))
        XCTAssertEqual(o.attemptClass, .completed)
        XCTAssertEqual(o.disposition, .success)
        XCTAssertEqual(o.notes, [])
    }

    func testExit0WithPartialIsNeutral() {
        XCTAssertEqual(classify(.exited(code: 0), .success(Fixtures.result(.partial))).disposition, .neutral)
    }

    func testExit1WithFailureIsCompletedFailure() {
        let o = classify(.exited(code: 1), .success(Fixtures.result(.failure, branch: nil, commits: 0)))
        XCTAssertEqual(o.attemptClass, .completed)
        XCTAssertEqual(o.disposition, .failure)
    }

    func testExit3WithNeedsInputIsActionRequired() {
        let o = classify(.exited(code: 3), .success(Fixtures.result(.needsInput, branch: nil, commits: 0)))
        XCTAssertEqual(o.attemptClass, .completed)
        XCTAssertEqual(o.disposition, .actionRequired)
    }

    func testCompletedIsNeverRetried() {
        let o = classify(.exited(code: 1), .success(Fixtures.result(.failure)))
        XCTAssertFalse(RetryPolicy().shouldRetry(afterAttempt: 1, outcome: o), "a completed attempt must never be retried")
    }

    // Row: exited 0, 1, 3 + missing or invalid → retry-safe, naming the violation.
    func testExit0WithMissingResultIsRetrySafe() {
        let o = classify(.exited(code: 0), nil)
        XCTAssertEqual(o.attemptClass, .retrySafe)
        XCTAssertEqual(o.violation?.name, "no_result_file")
        XCTAssertTrue(o.reason.contains("no_result_file"), o.reason)
    }

    func testExit1WithInvalidResultIsRetrySafe() {
        let o = classify(.exited(code: 1), .failure(symlink))
        XCTAssertEqual(o.attemptClass, .retrySafe)
        XCTAssertTrue(o.reason.contains("result_is_symlink"), "the reason must say which violation: \(o.reason)")
    }

    func testExit3WithInvalidResultIsRetrySafe() {
        XCTAssertEqual(classify(.exited(code: 3), .failure(symlink)).attemptClass, .retrySafe)
    }

    // Row: exited 2 → retry-safe whatever the result.
    func testExit2IsRetrySafeEvenWithValidResult() {
        XCTAssertEqual(classify(.exited(code: 2), .success(Fixtures.result())).attemptClass, .retrySafe)
    }

    // Row: other code → retry-safe.
    func testOtherExitCodeIsRetrySafe() {
        XCTAssertEqual(classify(.exited(code: 42), .success(Fixtures.result())).attemptClass, .retrySafe)
    }

    // Row: signaled, timedOut, oomKilled, seccompViolation, setupFailed → retry-safe.
    func testSignaledIsRetrySafe() {
        XCTAssertEqual(classify(.signaled(signal: 9, core: false), nil).attemptClass, .retrySafe)
    }
    func testTimedOutIsRetrySafe() { XCTAssertEqual(classify(.timedOut, nil).attemptClass, .retrySafe) }
    func testOOMIsRetrySafe() { XCTAssertEqual(classify(.oomKilled, nil).attemptClass, .retrySafe) }
    func testSeccompIsRetrySafe() { XCTAssertEqual(classify(.seccompViolation, nil).attemptClass, .retrySafe) }
    func testSetupFailedIsRetrySafe() {
        let o = classify(.setupFailed(stage: .proc, errno: EPERM, detail: "mount /proc: Operation not permitted"), nil)
        XCTAssertEqual(o.attemptClass, .retrySafe)
        XCTAssertTrue(o.reason.contains("mount /proc"), o.reason)
    }

    // Row: spawnFailed → failed at once.
    func testSpawnFailedNotFoundFailsAtOnce() {
        let o = classify(.spawnFailed(errno: ENOENT), nil)
        XCTAssertEqual(o.attemptClass, .failed)
        XCTAssertEqual(o.disposition, .failure)
        XCTAssertTrue(o.reason.contains("runtime not found"), o.reason)
        XCTAssertFalse(RetryPolicy().shouldRetry(afterAttempt: 1, outcome: o))
    }

    func testSpawnFailedNotExecutableFailsAtOnce() {
        let o = classify(.spawnFailed(errno: EACCES), nil)
        XCTAssertEqual(o.attemptClass, .failed)
        XCTAssertTrue(o.reason.contains("not executable"), o.reason)
    }

    // Row: cancelled → cancelled.
    func testCancelledIsCancelled() {
        let o = classify(.cancelled, .success(Fixtures.result()))
        XCTAssertEqual(o.attemptClass, .cancelled)
        XCTAssertEqual(o.disposition, .cancelled)
    }

    // Infra: clone failed → retry-safe.
    func testCloneFailureIsRetrySafe() {
        let o = AttemptClassifier.classifyCloneFailure("fatal: could not read from https://x-access-token:ghs_abc@github.com")
        XCTAssertEqual(o.attemptClass, .retrySafe)
        XCTAssertFalse(o.reason.contains("ghs_abc"), "the reason must be redacted: \(o.reason)")
    }

    // Mismatches: exit code wins, a note is recorded.
    func testExit3WithoutNeedsInputIsNotedAndActionRequired() {
        let o = classify(.exited(code: 3), .success(Fixtures.result(.success)))
        XCTAssertEqual(o.attemptClass, .completed)
        XCTAssertEqual(o.disposition, .actionRequired)
        XCTAssertEqual(o.notes.count, 1)
        XCTAssertTrue(o.notes[0].contains("exit 3 without status needs_input"), o.notes[0])
    }

    func testExit0WithFailureStatusIsNotedAndSuccess() {
        let o = classify(.exited(code: 0), .success(Fixtures.result(.failure)))
        XCTAssertEqual(o.disposition, .success, "exit code 0 wins over status failure")
        XCTAssertEqual(o.notes.count, 1)
    }

    func testExit1WithSuccessStatusIsNotedAndFailure() {
        let o = classify(.exited(code: 1), .success(Fixtures.result(.success)))
        XCTAssertEqual(o.disposition, .failure, "exit code 1 wins over status success")
        XCTAssertEqual(o.notes.count, 1)
        XCTAssertFalse(o.prWarranted, "a failed attempt must not open a PR")
    }

    func testExit0WithNeedsInputIsNotedAndSuccessWithoutPR() {
        let o = classify(.exited(code: 0), .success(Fixtures.result(.needsInput)))
        XCTAssertEqual(o.disposition, .success)
        XCTAssertEqual(o.notes.count, 1)
        XCTAssertFalse(o.prWarranted, "status needs_input never warrants a PR")
    }

    // prWarranted.
    func testPRWarrantedForSuccessWithBranchAndCommit() {
        XCTAssertTrue(classify(.exited(code: 0), .success(Fixtures.result(.success))).prWarranted)
    }

    func testPRWarrantedForPartialWithBranchAndCommit() {
        XCTAssertTrue(classify(.exited(code: 0), .success(Fixtures.result(.partial))).prWarranted)
    }

    func testNoPRWithoutCommits() {
        XCTAssertFalse(classify(.exited(code: 0), .success(Fixtures.result(.success, commits: 0))).prWarranted)
    }

    func testNoPRWithEmptyBranch() {
        XCTAssertFalse(classify(.exited(code: 0), .success(Fixtures.result(.success, branch: ""))).prWarranted)
    }

    func testNoPRWithNullBranch() {
        XCTAssertFalse(classify(.exited(code: 0), .success(Fixtures.result(.success, branch: nil))).prWarranted)
    }

    func testNoPRForFailure() {
        XCTAssertFalse(classify(.exited(code: 1), .success(Fixtures.result(.failure))).prWarranted)
    }
}

final class RetryPolicyTests: XCTestCase {
    /// Always returns the same word: 0 gives the lowest jitter factor.
    struct ConstantRNG: RandomNumberGenerator { let value: UInt64; mutating func next() -> UInt64 { value } }

    func testDefaultsAllowThreeAttempts() {
        let p = RetryPolicy()
        let retrySafe = AttemptOutcome(attemptClass: .retrySafe, disposition: .failure, reason: "x")
        XCTAssertEqual(p.maxAttempts, 3)
        XCTAssertTrue(p.shouldRetry(afterAttempt: 1, outcome: retrySafe))
        XCTAssertTrue(p.shouldRetry(afterAttempt: 2, outcome: retrySafe))
        XCTAssertFalse(p.shouldRetry(afterAttempt: 3, outcome: retrySafe), "no fourth attempt with maxRetries 2")
    }

    func testNominalDelaysDoubleFromBase() {
        let p = RetryPolicy()
        XCTAssertEqual((1...5).map { p.nominalDelay(beforeRetry: $0) }, [2, 4, 8, 16, 32])
    }

    func testDelayIsCapped() {
        let p = RetryPolicy()
        XCTAssertEqual(p.nominalDelay(beforeRetry: 6), 60)
        var rng = SplitMix64(seed: 1)
        XCTAssertLessThanOrEqual(p.delay(beforeRetry: 40, using: &rng), 60)
    }

    func testNoJitterGivesExactNumbers() {
        let p = RetryPolicy(jitter: 0)
        var rng = SplitMix64(seed: 7)
        XCTAssertEqual((1...3).map { p.delay(beforeRetry: $0, using: &rng) }, [2, 4, 8])
    }

    func testSeededDelaysAreExact() {
        // SplitMix64(seed: 1) mapped by the documented formula (checked independently).
        var rng = SplitMix64(seed: 1)
        let delays = (1...3).map { RetryPolicy().delay(beforeRetry: $0, using: &rng) }
        for (got, want) in zip(delays, [2.0532492601378247, 4.393250811620322, 9.50720881147775]) {
            XCTAssertEqual(got, want, accuracy: 1e-12, "seeded backoff changed: \(delays)")
        }
    }

    func testHighestJitterIsPlus20Percent() {
        var rng = ConstantRNG(value: .max)
        XCTAssertEqual(RetryPolicy().delay(beforeRetry: 1, using: &rng), 2.4, accuracy: 1e-9)
    }

    func testLowestJitterIsMinus20Percent() {
        var rng = ConstantRNG(value: 0)
        XCTAssertEqual(RetryPolicy().delay(beforeRetry: 2, using: &rng), 3.2, accuracy: 1e-9)
    }

    func testSeededJitterStaysWithin20PercentAndIsReproducible() {
        let p = RetryPolicy()
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        let first = (1...4).map { p.delay(beforeRetry: $0, using: &a) }
        let second = (1...4).map { p.delay(beforeRetry: $0, using: &b) }
        XCTAssertEqual(first, second, "the same seed must give the same delays")
        for (i, d) in first.enumerated() {
            let nominal = p.nominalDelay(beforeRetry: i + 1)
            XCTAssertTrue(d >= nominal * 0.8 && d <= nominal * 1.2, "retry \(i + 1): \(d) is outside ±20% of \(nominal)")
        }
        XCTAssertNotEqual(first[0], 2, "jitter should move the delay")
    }
}
