import Foundation
import Supervisor

/// Pull-request reviews: the PR's files (what a review may comment on), its reviews and
/// review comments (what the bot said before), and posting one review.
extension GitHubClient {
    /// One changed file of a pull request. `patch` is absent for binary files and for
    /// diffs GitHub considers too large.
    public struct PullRequestFile: Sendable, Equatable {
        public var filename: String
        public var status: String?
        public var patch: String?
        public init(filename: String, status: String? = nil, patch: String? = nil) {
            self.filename = filename; self.status = status; self.patch = patch
        }
    }

    /// `GET /repos/{o}/{r}/pulls/{n}/files`, following pages (100 a page) up to
    /// `maxPages`: GitHub lists at most 3000 files.
    public func pullRequestFiles(_ repo: Repo, number: Int, auth: Auth, maxPages: Int = 30) async throws -> [PullRequestFile] {
        struct Body: Decodable { var filename: String; var status: String?; var patch: String? }
        let path = repo.path + "/pulls/\(number)/files"
        return try await pages(repo, path, auth: auth, maxPages: maxPages) { r in
            try self.decode([Body].self, r, "GET \(path)").map { PullRequestFile(filename: $0.filename, status: $0.status, patch: $0.patch) }
        }
    }

    /// A comment of a review (an inline one), as listed.
    public struct ReviewComment: Sendable, Equatable {
        public var id: Int64
        public var body: String
        public var path: String?
        public var line: Int?
        public var userType: String?
        /// The review it belongs to.
        public var reviewID: Int64?
    }

    /// `GET /repos/{o}/{r}/pulls/{n}/comments`: every review comment, oldest first.
    public func pullRequestReviewComments(_ repo: Repo, number: Int, auth: Auth, maxPages: Int = 10) async throws -> [ReviewComment] {
        struct Body: Decodable {
            struct User: Decodable { var type: String? }
            var id: Int64; var body: String?; var path: String?; var line: Int?; var user: User?
            var pull_request_review_id: Int64?
        }
        let path = repo.path + "/pulls/\(number)/comments"
        return try await pages(repo, path, auth: auth, maxPages: maxPages) { r in
            try self.decode([Body].self, r, "GET \(path)").map {
                ReviewComment(id: $0.id, body: $0.body ?? "", path: $0.path, line: $0.line, userType: $0.user?.type,
                              reviewID: $0.pull_request_review_id)
            }
        }
    }

    public struct PullRequestReview: Sendable, Equatable {
        public var id: Int64
        public var body: String
        /// COMMENTED, CHANGES_REQUESTED, APPROVED, PENDING, …
        public var state: String?
        public var commitID: String?
        public var userType: String?
        public var htmlURL: String?
    }

    private struct ReviewBody: Decodable {
        struct User: Decodable { var type: String? }
        var id: Int64; var body: String?; var state: String?; var commit_id: String?; var user: User?; var html_url: String?
        var review: PullRequestReview {
            PullRequestReview(id: id, body: body ?? "", state: state, commitID: commit_id, userType: user?.type, htmlURL: html_url)
        }
    }

    /// `GET /repos/{o}/{r}/pulls/{n}/reviews`, oldest first.
    public func pullRequestReviews(_ repo: Repo, number: Int, auth: Auth, maxPages: Int = 10) async throws -> [PullRequestReview] {
        let path = repo.path + "/pulls/\(number)/reviews"
        return try await pages(repo, path, auth: auth, maxPages: maxPages) { r in
            try self.decode([ReviewBody].self, r, "GET \(path)").map(\.review)
        }
    }

    public enum ReviewEvent: String, Sendable, Equatable {
        case comment = "COMMENT"
        case requestChanges = "REQUEST_CHANGES"
    }

    /// An inline comment of a review to be posted: on `line` of `path` at the reviewed
    /// commit (`side` RIGHT: the new version).
    public struct DraftReviewComment: Sendable, Equatable {
        public var path: String
        public var line: Int
        public var side: String
        public var body: String
        public init(path: String, line: Int, side: String = "RIGHT", body: String) {
            self.path = path; self.line = line; self.side = side; self.body = body
        }
    }

    /// `POST /repos/{o}/{r}/pulls/{n}/reviews`: one review, submitted at once, on `commitID`.
    public func createPullRequestReview(_ repo: Repo, number: Int, commitID: String, body: String, event: ReviewEvent,
                                        comments: [DraftReviewComment], auth: Auth) async throws -> PullRequestReview {
        let path = repo.path + "/pulls/\(number)/reviews"
        let payload: JSONValue = .object([
            "commit_id": .string(commitID), "body": .string(body), "event": .string(event.rawValue),
            "comments": .array(comments.map {
                .object(["path": .string($0.path), "line": .number(Double($0.line)), "side": .string($0.side),
                         "body": .string($0.body)])
            }),
        ])
        let r = try await repoCall("POST", repo, path, auth: auth, body: payload)
        return try decode(ReviewBody.self, r, "POST \(path)").review
    }

    /// Follows `rel="next"` pages of 100 up to `maxPages`.
    private func pages<T>(_ repo: Repo, _ path: String, auth: Auth, maxPages: Int,
                          _ decodePage: (Response) throws -> [T]) async throws -> [T] {
        var all: [T] = []
        for page in 1...max(1, maxPages) {
            let r = try await repoCall("GET", repo, path, query: [("per_page", "100"), ("page", String(page))], auth: auth)
            let batch = try decodePage(r)
            all += batch
            if batch.count < 100 || !(r.header("Link")?.contains(#"rel="next""#) ?? false) { break }
        }
        return all
    }
}
