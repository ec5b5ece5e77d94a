import Foundation
import Synchronization
import XCTest
@testable import Supervisor

/// Shared helpers for the store/contract tests (a namespace so it cannot clash with
/// other test files in this target).
enum Fixtures {
    static let repo = RepoRef(owner: "OpenCoven", name: "coven-code",
                              cloneURL: "https://github.com/OpenCoven/coven-code.git", defaultBranch: "main")
    static let familiar = FamiliarRef(id: "cody", displayName: "Cody", model: "anthropic/claude-sonnet-4-6",
                                      skills: ["systematic-debugging"])

    static func fixIssue(_ id: String = "task-fix", installation: Int64? = 1) -> TaskSpec {
        TaskSpec(id: id, installationID: installation, repo: repo, trigger: .issueAssigned,
                 kind: .fixIssue(issueNumber: 42, title: "Fix OAuth token refresh", body: "The refresh path ignores clock skew."),
                 familiar: familiar)
    }

    static func reviewComment(_ id: String = "task-review", installation: Int64? = 1) -> TaskSpec {
        TaskSpec(id: id, installationID: installation, repo: repo, trigger: .prReviewComment,
                 kind: .addressReviewComment(prNumber: 7, commentBody: "Please rename this.",
                                             diffHunk: "@@ -1,3 +1,3 @@\n-let a = 1\n+let b = 1", path: "src/a.rs", line: 12),
                 familiar: familiar, headRef: "feature", headSHA: "0123456789abcdef0123456789abcdef01234567")
    }

    static func mention(_ id: String = "task-mention", installation: Int64? = 1) -> TaskSpec {
        TaskSpec(id: id, installationID: installation, repo: repo, trigger: .issueMention,
                 kind: .respondToMention(issueNumber: 9, commentBody: "@cody what do you think?"), familiar: familiar)
    }

    static func result(_ status: ResultEnvelope.Status = .success, branch: String? = "cody/fix-issue-42",
                       commits: Int = 1) -> ResultEnvelope {
        ResultEnvelope(status: status, branch: branch,
                       commits: (0..<commits).map { ResultEnvelope.Commit(sha: "a1b2c3d\($0)", message: "change \($0)") },
                       filesChanged: commits > 0 ? ["src/auth/refresh.rs"] : [], summary: "Did the thing.",
                       prBody: status == .needsInput ? "Which branch should I target?" : "## Changes\n", exitReason: nil)
    }

    /// A fresh temporary directory, removed when the test ends.
    static func tempDir(_ test: XCTestCase) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("coven-store-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// shared/contracts/<version>: $COVEN_SHARED_DIR, ../shared beside the package
    /// (how CI lays it out), or /work/shared. Nil when absent.
    static func sharedContracts(_ version: String = "v1") -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["COVEN_SHARED_DIR"], !env.isEmpty {
            candidates.append(env + "/contracts/" + version)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent("../shared/contracts/\(version)").standardized.path)
        candidates.append("/work/shared/contracts/\(version)")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/session-brief.schema.json") }
    }

    static func requireSharedContracts(_ version: String = "v1") throws -> String {
        guard let dir = sharedContracts(version) else {
            throw XCTSkip("shared/contracts/\(version) not present (set COVEN_SHARED_DIR to run this test)")
        }
        return dir
    }
}

/// A settable clock for the store.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var function: @Sendable () -> Date { { [self] in self.now } }
}
