import Foundation
import HTTP
import Supervisor

/// The fake's pull-request review endpoints and Check Run annotations, checked as GitHub
/// checks them:
/// - `GET /repos/{o}/{r}/pulls/{n}/files`: the PR's files with their patches, paginated
///   (`per_page` at most 100, default 30; `Link: rel="next"`);
/// - `POST /repos/{o}/{r}/pulls/{n}/reviews`: `commit_id` must be a commit of the
///   repository (422 "No commit found for SHA"), `event` one of APPROVE, REQUEST_CHANGES,
///   COMMENT (absent: a PENDING review), REQUEST_CHANGES and COMMENT need a body or
///   comments; each comment needs `path` and `body`, and `line` with `side` (LEFT or
///   RIGHT) or a `position`, and nothing else; a path that is not one of the PR's files
///   → 422 "Path could not be resolved", a line the diff does not show on that side →
///   422 "Line could not be resolved" (nothing is stored when any comment fails);
/// - `GET …/pulls/{n}/reviews` and `GET …/pulls/{n}/comments` list what was posted;
/// - Check Run `output.annotations`: at most 50 per request, each with `path`,
///   `start_line`, `end_line`, `annotation_level` (notice, warning, failure) and `message`.
extension FakeGitHubAPI {
    /// A changed file of a pull request as the fake serves it.
    public struct PullFile: Sendable, Equatable {
        public var filename: String
        public var status: String
        public var patch: String?
        public init(filename: String, status: String = "modified", patch: String?) {
            self.filename = filename; self.status = status; self.patch = patch
        }
    }

    public struct Annotation: Sendable, Equatable {
        public var path: String
        public var startLine: Int
        public var endLine: Int
        public var level: String
        public var title: String?
        public var message: String
    }

    /// A submitted review.
    public struct Review: Sendable {
        public var id: Int64
        public var repository: String
        public var pullRequest: Int
        public var commitID: String
        /// APPROVED, CHANGES_REQUESTED, COMMENTED or PENDING.
        public var state: String
        public var body: String
        public var userLogin: String
    }

    /// An inline comment of a review.
    public struct ReviewComment: Sendable {
        public var id: Int64
        public var reviewID: Int64
        public var repository: String
        public var pullRequest: Int
        public var path: String
        public var line: Int
        public var side: String
        public var body: String
        public var userLogin: String
        public var userType: String
    }

    public var reviews: [Review] { state.withLock { $0.reviews } }
    public var reviewComments: [ReviewComment] { state.withLock { $0.reviewComments } }

    /// Adds a review comment as someone else (e.g. the bot's comment from an earlier review).
    public func addReviewComment(_ repository: String, pullRequest: Int, path: String, line: Int, body: String,
                                 userLogin: String = "coven[bot]", userType: String = "Bot") {
        state.withLock { s in
            s.nextID += 1
            s.reviewComments.append(ReviewComment(id: s.nextID, reviewID: 0, repository: repository, pullRequest: pullRequest,
                                                  path: path, line: line, side: "RIGHT", body: body,
                                                  userLogin: userLogin, userType: userType))
        }
    }

    static let reviewEvents: [String: String] = ["APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                                                "COMMENT": "COMMENTED"]
    static let maxAnnotationsPerRequest = 50

    func registerReviewRoutes(_ add: (String, String, @escaping @Sendable (FakeGitHubAPI, HTTPRequest) throws -> HTTPResponse) -> Void) {
        add("GET", "/repos/{owner}/{repo}/pulls/{number}/files") { f, req in try f.listPullFiles(req) }
        add("GET", "/repos/{owner}/{repo}/pulls/{number}/reviews") { f, req in try f.listReviews(req) }
        add("POST", "/repos/{owner}/{repo}/pulls/{number}/reviews") { f, req in try f.createReview(req) }
        add("GET", "/repos/{owner}/{repo}/pulls/{number}/comments") { f, req in try f.listReviewComments(req) }
    }

    private func pull(_ req: HTTPRequest, _ repo: Repository) throws -> PullRequest {
        guard let n = req.parameter("number").flatMap(Int.init), let p = repo.pulls[n] else { throw Failure.notFound }
        return p
    }

    /// One page of `items`, with GitHub's `Link` header when more follow.
    private func page(_ req: HTTPRequest, _ items: [[String: Any]]) -> HTTPResponse {
        let perPage = min(100, max(1, req.queryValue("per_page").flatMap(Int.init) ?? 30))
        let page = max(1, req.queryValue("page").flatMap(Int.init) ?? 1)
        let slice = Array(items.dropFirst((page - 1) * perPage).prefix(perPage))
        var headers = HTTPHeaders()
        if page * perPage < items.count {
            headers.add("Link", "<\(options.pathPrefix)\(req.path)?per_page=\(perPage)&page=\(page + 1)>; rel=\"next\"")
        }
        let data = (try? JSONSerialization.data(withJSONObject: slice, options: [.sortedKeys])) ?? Data("[]".utf8)
        return .json(200, data: data, headers: headers)
    }

    private func listPullFiles(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "read"), ("contents", "read")])
        let p = try pull(req, repo)
        return page(req, p.files.map { f in
            var o: [String: Any] = ["filename": f.filename, "status": f.status, "sha": String(repeating: "a", count: 40)]
            if let patch = f.patch { o["patch"] = patch }
            return o
        })
    }

    private func reviewJSON(_ r: Review) -> [String: Any] {
        ["id": r.id, "body": r.body, "state": r.state, "commit_id": r.commitID,
         "user": ["login": r.userLogin, "type": "Bot"],
         "html_url": "https://github.example/\(r.repository)/pull/\(r.pullRequest)#pullrequestreview-\(r.id)"]
    }

    private func listReviews(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "read")])
        let p = try pull(req, repo)
        let list = state.withLock { $0.reviews.filter { $0.repository == repo.fullName && $0.pullRequest == p.number } }
        return page(req, list.map(reviewJSON))
    }

    private func listReviewComments(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "read")])
        let p = try pull(req, repo)
        let list = state.withLock { $0.reviewComments.filter { $0.repository == repo.fullName && $0.pullRequest == p.number } }
        return page(req, list.map { c in
            ["id": c.id, "pull_request_review_id": c.reviewID, "path": c.path, "line": c.line, "side": c.side,
             "body": c.body, "user": ["login": c.userLogin, "type": c.userType]] as [String: Any]
        })
    }

    private struct DraftComment { var path: String; var line: Int; var side: String; var body: String }

    private func createReview(_ req: HTTPRequest) throws -> HTTPResponse {
        let (repo, _) = try authorize(req, [("pull_requests", "write")])
        let p = try pull(req, repo)
        let o = try object(req)
        for key in o.keys where !["commit_id", "body", "event", "comments"].contains(key) {
            throw Failure.invalid("\"\(key)\" is not a permitted key.")
        }
        let commit = try string(o, "commit_id", required: false) ?? p.headSHA
        guard repo.knownCommits.contains(commit) else {
            throw Failure(status: 422, message: "Unprocessable Entity", textErrors: ["No commit found for SHA: \(commit)"])
        }
        let body = try string(o, "body", required: false) ?? ""
        let event = try string(o, "event", required: false)
        var reviewState = "PENDING"
        if let event {
            guard let s = Self.reviewEvents[event] else {
                throw Failure.invalid("For 'properties/event', \"\(event)\" is not one of \(Self.reviewEvents.keys.sorted()).")
            }
            reviewState = s
        }
        var drafts: [DraftComment] = []
        if let list = o["comments"] {
            guard let items = list.arrayValue else { throw Failure.invalid("For 'properties/comments', \(list) is not an array.") }
            for (i, item) in items.enumerated() { drafts.append(try draftComment(item, index: i, pull: p)) }
        }
        if (event == "REQUEST_CHANGES" || event == "COMMENT") && body.isEmpty && drafts.isEmpty {
            throw Failure(status: 422, message: "Unprocessable Entity",
                          textErrors: ["Review body is required for \(event!) with no comments"])
        }
        let review = state.withLock { s -> Review in
            s.nextID += 1
            let r = Review(id: s.nextID, repository: repo.fullName, pullRequest: p.number, commitID: commit,
                           state: reviewState, body: body, userLogin: "\(options.appSlug)[bot]")
            s.reviews.append(r)
            for d in drafts {
                s.nextID += 1
                s.reviewComments.append(ReviewComment(id: s.nextID, reviewID: r.id, repository: repo.fullName,
                                                      pullRequest: p.number, path: d.path, line: d.line, side: d.side,
                                                      body: d.body, userLogin: r.userLogin, userType: "Bot"))
            }
            return r
        }
        return .json(200, reviewJSON(review))
    }

    private func draftComment(_ item: JSONValue, index i: Int, pull p: PullRequest) throws -> DraftComment {
        guard let c = item.objectValue else { throw Failure.invalid("For 'items', \(item) is not an object.") }
        let allowed = ["path", "body", "line", "side", "start_line", "start_side", "position"]
        for key in c.keys where !allowed.contains(key) {
            throw Failure.invalid("For 'properties/comments/\(i)', \"\(key)\" is not a permitted key.")
        }
        let path = try string(c, "path", required: true, path: "comments/\(i)/")!
        let body = try string(c, "body", required: true, path: "comments/\(i)/")!
        guard !body.isEmpty else { throw Failure.invalid("For 'properties/comments/\(i)/body', the body is empty.") }
        guard let lineValue = c["line"] else {
            throw Failure.invalid("For 'properties/comments/\(i)', a line (or position) is required.")
        }
        guard case .number(let n) = lineValue, n == n.rounded(), n >= 1 else {
            throw Failure.invalid("For 'properties/comments/\(i)/line', \(lineValue) is not a positive integer.")
        }
        let side = try string(c, "side", required: false, path: "comments/\(i)/") ?? "RIGHT"
        guard side == "RIGHT" || side == "LEFT" else {
            throw Failure.invalid("For 'properties/comments/\(i)/side', \"\(side)\" is not one of [\"LEFT\", \"RIGHT\"].")
        }
        guard let file = p.files.first(where: { $0.filename == path }) else {
            throw Failure(status: 422, message: "Unprocessable Entity", textErrors: ["Path could not be resolved"])
        }
        let line = Int(n)
        guard let patch = file.patch, Self.diffLines(patch, side: side).contains(line) else {
            throw Failure(status: 422, message: "Unprocessable Entity", textErrors: ["Line could not be resolved"])
        }
        return DraftComment(path: path, line: line, side: side, body: body)
    }

    /// The lines a unified-diff patch shows on `side` (its own reading, not the adapter's).
    static func diffLines(_ patch: String, side: String) -> Set<Int> {
        var lines = Set<Int>()
        var old = 0, new = 0
        var inHunk = false
        for raw in patch.components(separatedBy: "\n") {
            if raw.hasPrefix("@@ ") {
                let fields = raw.components(separatedBy: " ")
                guard fields.count >= 3,
                      let o = Int(fields[1].dropFirst().components(separatedBy: ",")[0]),
                      let n = Int(fields[2].dropFirst().components(separatedBy: ",")[0]) else { inHunk = false; continue }
                old = o; new = n; inHunk = true
            } else if inHunk, raw.hasPrefix("+") {
                if side == "RIGHT" { lines.insert(new) }
                new += 1
            } else if inHunk, raw.hasPrefix("-") {
                if side == "LEFT" { lines.insert(old) }
                old += 1
            } else if inHunk, raw.hasPrefix(" ") {
                lines.insert(side == "RIGHT" ? new : old)
                new += 1; old += 1
            }
        }
        return lines
    }

    /// A Check Run output's `annotations`, checked as GitHub checks them.
    func annotations(_ value: JSONValue) throws -> [Annotation] {
        guard let items = value.arrayValue else { throw Failure.invalid("For 'properties/output/annotations', \(value) is not an array.") }
        guard items.count <= Self.maxAnnotationsPerRequest else {
            throw Failure.invalid("For 'properties/output/annotations', only \(Self.maxAnnotationsPerRequest) annotations "
                                  + "are allowed per request; \(items.count) were supplied.")
        }
        return try items.enumerated().map { i, item in
            guard let a = item.objectValue else { throw Failure.invalid("For 'output/annotations/\(i)', \(item) is not an object.") }
            let prefix = "output/annotations/\(i)/"
            func int(_ k: String) throws -> Int {
                guard case .number(let n)? = a[k], n == n.rounded(), n >= 1 else {
                    throw Failure.invalid("For 'properties/\(prefix)\(k)', \(a[k].map { "\($0)" } ?? "nil") is not a positive integer.")
                }
                return Int(n)
            }
            let level = try string(a, "annotation_level", required: true, path: prefix)!
            guard ["notice", "warning", "failure"].contains(level) else {
                throw Failure.invalid("For 'properties/\(prefix)annotation_level', \"\(level)\" is not one of notice, warning, failure.")
            }
            let start = try int("start_line"), end = try int("end_line")
            guard end >= start else { throw Failure.invalid("For '\(prefix)end_line', it is before start_line.") }
            return Annotation(path: try string(a, "path", required: true, path: prefix)!, startLine: start, endLine: end,
                              level: level, title: try string(a, "title", required: false, path: prefix),
                              message: try string(a, "message", required: true, path: prefix)!)
        }
    }
}
