import Foundation
import Supervisor

extension DaemonConfig {
    /// `store`: where the queue lives. SQLite (`<state_dir>/coven.db`, the default) for
    /// one host; PostgreSQL for a fleet of hosts sharing one queue (docs/fleet.md).
    public enum Store: Sendable, Equatable {
        case sqlite
        case postgres(Postgres)

        public struct Postgres: Sendable, Equatable {
            /// A file holding the libpq connection string, readable by the daemon only
            /// (0600 or 0400, owned by its user): never in argv, logs or errors.
            public var urlFile: String
            /// This host's id in the fleet (default: the host name); unique per daemon.
            public var hostID: String
            /// How long a running attempt's lease lasts without its host's heartbeat.
            public var lease: Duration = .seconds(15)
            /// The most attempts the whole fleet runs at once (nil: each host's own limit only).
            public var fleetConcurrency: Int?
            /// Connections to the database this daemon keeps open at most.
            public var poolSize: Int = 8

            public init(urlFile: String, hostID: String) { self.urlFile = urlFile; self.hostID = hostID }
        }

        public var isShared: Bool { if case .postgres = self { true } else { false } }
    }
}

extension ConfigLoader {
    static let storeKeys = ["kind", "url_file", "host_id", "lease", "fleet_max_concurrent", "pool_size"]

    static func parseStore(_ top: Obj, base: String) throws(ConfigError) -> DaemonConfig.Store {
        guard let s = try top.object("store") else { return .sqlite }
        try s.allow(storeKeys)
        switch try s.string("kind") ?? "sqlite" {
        case "sqlite":
            for k in storeKeys where k != "kind" && s.has(k) {
                throw ConfigError(s.key(k), "applies to kind \"postgres\" only")
            }
            return .sqlite
        case "postgres":
            guard let file = try s.path("url_file", base: base) else {
                throw ConfigError(s.key("url_file"), "is required: a file (mode 0600) holding the libpq connection string")
            }
            let host = try s.string("host_id") ?? ProcessInfo.processInfo.hostName
            guard !host.isEmpty, host.utf8.count <= 128,
                  host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw ConfigError(s.key("host_id"), "\(quote(host)) must be 1-128 letters, digits, '-', '_' or '.'")
            }
            var p = DaemonConfig.Store.Postgres(urlFile: file, hostID: host)
            if let lease = try s.duration("lease", positive: true) {
                guard lease >= .seconds(3), lease <= .seconds(600) else {
                    throw ConfigError(s.key("lease"), "must be between 3s and 10m")
                }
                p.lease = lease
            }
            p.fleetConcurrency = try s.integer("fleet_max_concurrent", min: 1, max: 100_000)
            if let n = try s.integer("pool_size", min: 2, max: 100) { p.poolSize = n }
            return .postgres(p)
        case let other:
            throw ConfigError(s.key("kind"), "\(quote(other)) must be \"sqlite\" or \"postgres\"")
        }
    }
}
