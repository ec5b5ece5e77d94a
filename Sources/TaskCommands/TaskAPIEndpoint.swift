import Foundation
import Adapter
import CovenCommands

/// Where the daemon's task API is and its bearer token, from (first match wins) flags,
/// the environment, `--config`, and local mode's defaults (`./state/api-token`,
/// `127.0.0.1:8787`). The token is never taken from argv: a file or `COVEN_API_TOKEN`.
public struct TaskAPIEndpoint: Sendable, Equatable {
    public var baseURL: String
    public var token: String

    /// The connection options every `tasks` command takes.
    public struct Options: Sendable {
        public var url: String?
        public var tokenFile: String?
        public var configPath: String?
        public var stateDir: String?
        public init() {}
    }

    public static let environmentURL = "COVEN_URL"
    public static let environmentToken = "COVEN_API_TOKEN"
    public static let environmentTokenFile = "COVEN_API_TOKEN_FILE"
    public static let localDefaultURL = "http://127.0.0.1:8787"

    /// Resolves the endpoint; a usage error says what is missing.
    public static func resolve(_ o: Options, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> TaskAPIEndpoint
    {
        var config: DaemonConfig?
        if let path = o.configPath {
            do { config = try ConfigLoader.load(path: path) } catch {
                throw CLI.UsageError("--config \(path): \(error)")
            }
        }
        let url = o.url ?? environment[environmentURL].flatMap { $0.isEmpty ? nil : $0 }
            ?? config.map { Self.url(for: $0.listen) } ?? localDefaultURL
        guard url.hasPrefix("http://") else {
            throw CLI.UsageError("--url: '\(url)' is not an http:// URL (put a TLS proxy's plain side, or the daemon itself)")
        }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url

        if o.tokenFile == nil, let t = environment[environmentToken], !t.isEmpty {
            return TaskAPIEndpoint(baseURL: base, token: t)
        }
        let file = o.tokenFile ?? environment[environmentTokenFile].flatMap { $0.isEmpty ? nil : $0 }
            ?? config?.api.tokenPath ?? ((o.stateDir ?? "state") + "/api-token")
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLI.UsageError("cannot read the task API token from \(file): \(String(cString: strerror(errno))) "
                                 + "(give --token-file, --config or --state-dir, or set \(environmentToken))")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains("\n") else {
            throw CLI.UsageError("the token file \(file) is empty or has several lines")
        }
        return TaskAPIEndpoint(baseURL: base, token: token)
    }

    /// How to reach a listener: its own address, or loopback when it listens on all interfaces.
    static func url(for listen: DaemonConfig.ListenAddress) -> String {
        switch listen.host {
        case "0.0.0.0": return "http://127.0.0.1:\(listen.port)"
        case "::": return "http://[::1]:\(listen.port)"
        default: return "http://\(listen)"
        }
    }
}

/// A `tasks` command's state: it has the connection options.
public protocol TaskAPIConnectionState: Sendable {
    var connection: TaskAPIEndpoint.Options { get set }
}

extension OptionTable.Option where State: TaskAPIConnectionState {
    typealias E = TaskAPIEndpoint

    /// `--url`, `--token-file`, `--config`, `--state-dir`: shared by every `tasks` command.
    static var connection: [Self] {
        [
            .value("--url", metavar: "URL", help: "the daemon, e.g. http://127.0.0.1:8787 (default: $\(E.environmentURL), "
                   + "then the config's listen address, then \(E.localDefaultURL))") { $0.connection.url = $1 },
            .value("--token-file", metavar: "FILE", help: "the task API token (default: $\(E.environmentToken) holding the "
                   + "token, $\(E.environmentTokenFile), the config's api.token_path, then <state-dir>/api-token)") {
                $0.connection.tokenFile = $1
            },
            .value("--config", metavar: "FILE", help: "take the address and token file from the daemon's configuration") {
                $0.connection.configPath = $1
            },
            .value("--state-dir", metavar: "DIR", help: "local mode's state directory, holding api-token (default: ./state)") {
                $0.connection.stateDir = $1
            },
        ]
    }
}
