import Foundation
import Synchronization
import CSandbox

/// One decision of the askpass server, for the attempt's log (never the token).
public struct AskpassRequestLog: Sendable, Equatable {
    public enum Field: String, Sendable { case username, password, unknown }
    public var field: Field
    public var host: String
    public var granted: Bool
    public var reason: String
}

/// Answers the sandbox's GIT_ASKPASS helper over a unix socket that exists only for
/// one attempt. It answers only for the repository's host (scheme, host and port of
/// the clone URL), only to a peer running as the sandbox's host uid, and refuses
/// everything once closed. The token lives in this process only.
public final class AskpassServer: @unchecked Sendable {
    public let socketPath: String
    private let listenFD: Int32
    private let allowedOrigin: String
    private let token: String
    private let peerUID: uid_t?
    private let closed = Atomic<Bool>(false)
    private let logs = Mutex<[AskpassRequestLog]>([])
    private let onRequest: (@Sendable (AskpassRequestLog) -> Void)?
    private let thread: Thread?

    /// - Parameters:
    ///   - socketPath: where to create the socket (its directory is bind-mounted into the sandbox).
    ///   - cloneURL: the repository URL; only its origin (scheme://host[:port]) gets answers.
    ///   - token: the git token for this attempt.
    ///   - peerUID: when set, connections from any other uid are refused (SO_PEERCRED).
    public init(socketPath: String, cloneURL: String, token: String, peerUID: uid_t?,
                onRequest: (@Sendable (AskpassRequestLog) -> Void)? = nil) throws {
        guard let origin = Self.origin(of: cloneURL) else {
            throw AskpassError("clone URL has no scheme and host: \(Self.describe(url: cloneURL))")
        }
        self.socketPath = socketPath
        self.allowedOrigin = origin
        self.token = token
        self.peerUID = peerUID
        self.onRequest = onRequest
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AskpassError("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd); throw AskpassError("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        guard ok, listen(fd, 16) == 0 else {
            let e = errno; Glibc.close(fd)
            throw AskpassError("bind \(socketPath): \(String(cString: strerror(e)))")
        }
        // The sandbox connects as its own uid; SO_PEERCRED is the real check.
        chmod(socketPath, 0o666)
        self.listenFD = fd
        let box = UnsafeSendableBox<AskpassServer?>(Optional<AskpassServer>.none)
        let t = Thread { box.value?.acceptLoop() }
        t.name = "askpass"
        self.thread = t
        box.value = self
        t.start()
    }

    /// Every request so far (what was asked, for which host, answered or not).
    public var requests: [AskpassRequestLog] { logs.withLock { $0 } }

    /// Stops answering and removes the socket. Idempotent.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
        unlink(socketPath)
    }

    deinit { close() }

    private func acceptLoop() {
        while !closed.load(ordering: .acquiring) {
            let c = cs_accept(listenFD)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(c)
            Glibc.close(c)
        }
    }

    private func handle(_ fd: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let expected = peerUID {
            var uid: uid_t = 0
            if cs_peer_cred(fd, &uid, nil) != 0 || uid != expected {
                record(.init(field: .unknown, host: "", granted: false, reason: "peer uid \(uid) is not the sandbox's"))
                reply(fd, "err not this attempt's sandbox")
                return
            }
        }
        var line = [UInt8]()
        var byte: UInt8 = 0
        while line.count < 4096 {
            let r = read(fd, &byte, 1)
            if r <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        let prompt = String(decoding: line, as: UTF8.self)
        let (field, answer, log) = decide(prompt: prompt)
        record(log)
        if let answer { reply(fd, "ok " + answer) } else { reply(fd, "err " + log.reason) }
        _ = field
    }

    func decide(prompt: String) -> (AskpassRequestLog.Field, String?, AskpassRequestLog) {
        let lower = prompt.lowercased()
        let field: AskpassRequestLog.Field = lower.hasPrefix("username") ? .username : lower.hasPrefix("password") ? .password : .unknown
        guard let url = Self.quotedURL(in: prompt), let origin = Self.origin(of: url) else {
            return (field, nil, .init(field: field, host: "", granted: false, reason: "prompt names no URL"))
        }
        guard !closed.load(ordering: .acquiring) else {
            return (field, nil, .init(field: field, host: origin, granted: false, reason: "attempt is over"))
        }
        guard origin == allowedOrigin else {
            return (field, nil, .init(field: field, host: origin, granted: false, reason: "only \(allowedOrigin) is answered"))
        }
        switch field {
        case .username: return (field, "x-access-token", .init(field: field, host: origin, granted: true, reason: "username"))
        case .password: return (field, token, .init(field: field, host: origin, granted: true, reason: "token"))
        case .unknown: return (field, nil, .init(field: field, host: origin, granted: false, reason: "unknown prompt"))
        }
    }

    private func record(_ log: AskpassRequestLog) {
        logs.withLock { $0.append(log) }
        onRequest?(log)
    }

    private func reply(_ fd: Int32, _ text: String) {
        let data = Array((text + "\n").utf8)
        // A helper that hung up (a hostile runtime can make it) is EPIPE, never a SIGPIPE
        // that would kill a run-task, which leaves SIGPIPE at its default.
        _ = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The text between the first pair of single quotes.
    static func quotedURL(in prompt: String) -> String? {
        guard let a = prompt.firstIndex(of: "'") else { return nil }
        let rest = prompt[prompt.index(after: a)...]
        guard let b = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<b])
    }

    /// "scheme://host[:port]" in lower case, without user info or path.
    static func origin(of url: String) -> String? {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(), !host.isEmpty else {
            return nil
        }
        if let port = c.port { return "\(scheme)://\(host):\(port)" }
        return "\(scheme)://\(host)"
    }

    /// A URL with any user info removed, for error messages.
    static func describe(url: String) -> String {
        guard var c = URLComponents(string: url) else { return "(unparseable URL)" }
        c.user = nil; c.password = nil
        return c.string ?? "(unparseable URL)"
    }
}

public struct AskpassError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// A mutable box that crosses a thread start before the owner is fully built.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
