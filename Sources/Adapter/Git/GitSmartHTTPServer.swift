import Foundation
import HTTP
import Synchronization

/// A real git smart-HTTP server on loopback: `git http-backend` (CGI) behind our HTTP
/// server, requiring HTTP basic auth with one token (user `x-access-token`), as GitHub
/// does for App installation tokens. Local mode serves its demo repository with it
/// (mounted under `/git/` on the daemon's own listener, see `respond(to:mountedAt:)`);
/// tests run it stand-alone with `start()`. Not meant for untrusted networks: it reads
/// each request body into memory and runs one `git http-backend` per request.
public final class GitSmartHTTPServer: @unchecked Sendable {
    public let root: String
    private var server: HTTPServer!
    private let token: Mutex<String>
    private let log = Mutex<[(path: String, authorized: Bool, user: String?)]>([])
    private let authorize: (@Sendable (_ password: String, _ push: Bool) -> Bool)?
    private let onPush: (@Sendable (_ repository: String) -> Void)?

    /// - Parameters:
    ///   - root: directory holding bare repositories (`owner/name.git`).
    ///   - token: the password every request must carry.
    ///   - authorize: when given, decides instead of `token` whether a password (with
    ///     user `x-access-token`) is accepted, e.g. "an installation token a fake GitHub
    ///     issued for this repository"; `push` is true for a push (receive-pack), which
    ///     GitHub allows only with `contents: write`.
    ///   - onPush: called after a successful `git-receive-pack` with the repository
    ///     ("owner/name"), e.g. to tell a fake GitHub about the new branch heads.
    public init(root: String, token: String, authorize: (@Sendable (_ password: String, _ push: Bool) -> Bool)? = nil,
                onPush: (@Sendable (_ repository: String) -> Void)? = nil) {
        self.root = root
        self.token = Mutex(token)
        self.authorize = authorize
        self.onPush = onPush
    }

    /// Branch → head commit of a bare repository ("owner/name").
    public func branches(of repo: String) -> [String: String] {
        let out = (try? Self.git(["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
                                 in: root + "/" + repo + ".git")) ?? ""
        var map: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { map[String(parts[0])] = String(parts[1]) }
        }
        return map
    }

    @discardableResult
    public func start() throws -> UInt16 {
        let s = HTTPServer(host: "127.0.0.1", port: 0) { [unowned self] req in self.handle(req) }
        server = s
        return try s.start()
    }

    public var port: UInt16 { server.port }
    public func url(_ repo: String) -> String { "http://127.0.0.1:\(port)/\(repo).git" }
    public func shutdown() { server?.shutdown() }
    public func setToken(_ t: String) { token.withLock { $0 = t } }
    /// The token requests must carry (what a token provider hands to attempts).
    public var currentToken: String { token.withLock { $0 } }

    /// Requests seen: path, whether they carried the right credentials, the user name given.
    public var requests: [(path: String, authorized: Bool, user: String?)] { log.withLock { $0 } }

    /// Creates a bare repository `name` (e.g. "acme/widget") with one commit on `branch`.
    public func createRepository(_ name: String, branch: String = "main", files: [String: String] = ["README.md": "hello\n"]) throws {
        let bare = root + "/" + name + ".git"
        let work = NSTemporaryDirectory() + "coven-git-seed-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        for (path, content) in files {
            let full = work + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try Self.git(["init", "-q", "-b", branch], in: work)
        try Self.git(["add", "."], in: work)
        try Self.git(["-c", "user.name=seed", "-c", "user.email=seed@example.invalid", "commit", "-q", "-m", "seed"], in: work)
        try FileManager.default.createDirectory(atPath: (bare as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.git(["clone", "-q", "--bare", work, bare], in: root)
        try Self.git(["config", "http.receivepack", "true"], in: bare)
    }

    /// Adds `branch` to the bare repository `name`: one commit on top of `base` that writes
    /// `files` (e.g. local mode's demo pull request).
    public func createBranch(_ branch: String, in name: String, from base: String = "main",
                             files: [String: String], message: String) throws {
        let bare = root + "/" + name + ".git"
        let work = NSTemporaryDirectory() + "coven-git-branch-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try Self.git(["clone", "-q", "-b", base, bare, work], in: root)
        try Self.git(["checkout", "-q", "-b", branch], in: work)
        for (path, content) in files {
            let full = work + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try Self.git(["add", "."], in: work)
        try Self.git(["-c", "user.name=seed", "-c", "user.email=seed@example.invalid", "commit", "-q", "-m", message], in: work)
        try Self.git(["push", "-q", "origin", "HEAD:refs/heads/" + branch], in: work)
    }

    /// The files `head` changes since it left `base` (`git diff --name-only base...head`),
    /// as GitHub lists a pull request's files; each a branch name or a commit.
    public func changedFiles(in name: String, base: String, head: String) throws -> [String] {
        let rev = { (r: String) in r.count == 40 && r.allSatisfy(\.isHexDigit) ? r : "refs/heads/" + r }
        let out = try Self.git(["diff", "--name-only", "-z", rev(base) + "..." + rev(head), "--"], in: root + "/" + name + ".git")
        return out.split(separator: "\0").map(String.init)
    }

    /// The commit a branch points at in the bare repository, or nil.
    public func head(of repo: String, branch: String) -> String? {
        try? Self.git(["rev-parse", "--verify", "-q", "refs/heads/" + branch], in: root + "/" + repo + ".git")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    static func git(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "git", code: Int(p.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "git \(args.joined(separator: " ")): \(String(decoding: e, as: UTF8.self))"])
        }
        return String(decoding: o, as: UTF8.self)
    }

    /// Answers a request for a server mounted at `prefix` on another HTTP server (e.g.
    /// "/git": `/git/demo/hello.git/info/refs` is served as `/demo/hello.git/info/refs`).
    public func respond(to request: HTTPRequest, mountedAt prefix: String) -> HTTPResponse {
        guard request.path.hasPrefix(prefix + "/") else { return .text(404, "not found\n") }
        var inner = request
        inner.path = String(request.path.dropFirst(prefix.count))
        return handle(inner)
    }

    /// Whether the bare repository `name` ("owner/repo") exists.
    public func hasRepository(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/" + name + ".git/HEAD")
    }

    private func handle(_ req: HTTPRequest) -> HTTPResponse {
        var user: String?
        var authorized = false
        if let auth = req.headers["Authorization"], auth.hasPrefix("Basic "),
           let raw = Data(base64Encoded: String(auth.dropFirst(6))) {
            let pair = String(decoding: raw, as: UTF8.self)
            if let colon = pair.firstIndex(of: ":") {
                user = String(pair[..<colon])
                let pass = String(pair[pair.index(after: colon)...])
                if let authorize {
                    let push = req.path.hasSuffix("/git-receive-pack") || (req.query ?? "").contains("service=git-receive-pack")
                    authorized = user == "x-access-token" && authorize(pass, push)
                } else {
                    authorized = user == "x-access-token"
                        && ConstantTime.equals(Array(pass.utf8), Array(token.withLock { $0 }.utf8))
                }
            }
        }
        log.withLock { $0.append((req.path, authorized, user)) }
        guard authorized else {
            return HTTPResponse(status: 401, headers: ["WWW-Authenticate": "Basic realm=\"coven-test-git\""],
                                body: Data("authentication required\n".utf8))
        }
        let response = cgi(req, user: user ?? "")
        if let onPush, req.method == "POST", req.path.hasSuffix(".git/git-receive-pack"), response.status == 200 {
            let repo = String(req.path.dropFirst().dropLast(".git/git-receive-pack".count))
            onPush(repo)
        }
        return response
    }

    /// Runs `git http-backend` as CGI for one request.
    private func cgi(_ req: HTTPRequest, user: String) -> HTTPResponse {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["http-backend"]
        var env = [
            "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "PATH": "/usr/bin:/bin",
            "REQUEST_METHOD": req.method, "PATH_INFO": req.decodedPath ?? req.path, "QUERY_STRING": req.query ?? "",
            "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": String(req.body.count),
            "GIT_CONFIG_NOSYSTEM": "1", "HOME": root,
        ]
        if let ct = req.headers["Content-Type"] { env["CONTENT_TYPE"] = ct }
        if let ce = req.headers["Content-Encoding"] { env["HTTP_CONTENT_ENCODING"] = ce }
        if let gp = req.headers["Git-Protocol"] { env["GIT_PROTOCOL"] = gp }
        p.environment = env
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return .text(500, "http-backend: \(error)\n") }
        let body = req.body
        let writer = Thread {
            // git may exit before reading it all (a refused push): EPIPE for this thread, not a
            // process-wide SIGPIPE. A SIGPIPE left pending goes with the thread.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            try? input.fileHandleForWriting.write(contentsOf: body)
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        // CGI response: headers, blank line, body.
        guard let sep = data.range(of: Data("\r\n\r\n".utf8)) ?? data.range(of: Data("\n\n".utf8)) else {
            return .text(502, "http-backend gave no headers\n")
        }
        var status = 200
        var headers = HTTPHeaders()
        for line in String(decoding: data[..<sep.lowerBound], as: UTF8.self).split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" { status = Int(value.prefix(3)) ?? 200 } else { headers.add(name, value) }
        }
        return HTTPResponse(status: status, headers: headers, body: data[sep.upperBound...])
    }
}
