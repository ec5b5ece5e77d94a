import Foundation
import Synchronization

/// One connection through (or refused by) the egress proxy.
public struct EgressRecord: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// Policy allowed it and the proxy connected.
        case allowed
        /// Policy refused it (403, or 503 past the connection limit).
        case denied
        /// Not a proxy request we understand (400, 408, 431), or the client left first.
        case invalid
        /// Allowed by policy but the destination could not be resolved or reached (502, 504).
        case failed
    }
    /// When the client connected.
    public var started: Date
    /// CONNECT, GET, ...; empty when no request line was read.
    public var method: String
    public var host: String
    public var port: Int
    /// The address connected to (allowed) or refused (denied by address).
    public var address: String?
    public var outcome: Outcome
    /// Why, e.g. "allow_hosts *.github.com", "host not in allowlist",
    /// "resolves to 127.0.0.1 (loopback), not allowed".
    public var rule: String
    /// The status the proxy answered with (nil for forwarded plain HTTP: the origin answered).
    public var status: Int?
    /// Bytes written to the destination / read from it.
    public var bytesUp: UInt64
    public var bytesDown: UInt64
    /// From client connect to the end of the connection.
    public var durationMs: Double
    /// How an allowed connection ended: "closed", "idle timeout", "byte cap reached", "sandbox ended", "error: ...".
    public var closeReason: String?

    enum CodingKeys: String, CodingKey {
        case started, method, host, port, address, outcome, rule, status
        case bytesUp = "bytes_up", bytesDown = "bytes_down", durationMs = "duration_ms", closeReason = "close_reason"
    }
}

/// Counters of one proxy (or of all of them: `EgressMetrics`), for metrics.
public struct EgressCounters: Sendable, Equatable, Codable {
    public var connectionsAllowed: UInt64 = 0
    public var connectionsDenied: UInt64 = 0
    public var connectionsInvalid: UInt64 = 0
    public var connectionsFailed: UInt64 = 0
    /// Denials by rule: host not listed, port not listed, address class, byte cap, connection limit, wrong peer.
    public var deniedHost: UInt64 = 0
    public var deniedPort: UInt64 = 0
    public var deniedAddress: UInt64 = 0
    public var deniedByteCap: UInt64 = 0
    public var deniedConnectionLimit: UInt64 = 0
    public var deniedPeer: UInt64 = 0
    public var bytesUp: UInt64 = 0
    public var bytesDown: UInt64 = 0
    /// Tunnels closed because the byte cap was reached / because they were idle.
    public var byteCapCloses: UInt64 = 0
    public var idleTimeouts: UInt64 = 0
    /// Tunnels open right now (a gauge).
    public var tunnelsOpen: Int64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case connectionsAllowed = "allowed", connectionsDenied = "denied", connectionsInvalid = "invalid"
        case connectionsFailed = "failed", deniedHost = "denied_host", deniedPort = "denied_port"
        case deniedAddress = "denied_address", deniedByteCap = "denied_byte_cap"
        case deniedConnectionLimit = "denied_connection_limit", deniedPeer = "denied_peer"
        case bytesUp = "bytes_up", bytesDown = "bytes_down", byteCapCloses = "byte_cap_closes"
        case idleTimeouts = "idle_timeouts", tunnelsOpen = "tunnels_open"
    }

    mutating func count(_ r: EgressRecord, denial: EgressDenial?) {
        switch r.outcome {
        case .allowed: connectionsAllowed += 1
        case .denied: connectionsDenied += 1
        case .invalid: connectionsInvalid += 1
        case .failed: connectionsFailed += 1
        }
        switch denial {
        case .host: deniedHost += 1
        case .port: deniedPort += 1
        case .address: deniedAddress += 1
        case .byteCap: deniedByteCap += 1
        case .connectionLimit: deniedConnectionLimit += 1
        case .peer: deniedPeer += 1
        case nil: break
        }
    }
}

/// Which rule refused a connection (for the counters).
enum EgressDenial { case host, port, address, byteCap, connectionLimit, peer }

/// The egress record of one sandbox: what `SandboxResult.egress` carries and the
/// attempt runner stores as JSON in the attempt's `egress_log` column.
public struct EgressReport: Sendable, Equatable, Codable {
    public var connections: [EgressRecord]
    /// Records not kept because `maxLogEntries` was reached (the totals count them).
    public var droppedRecords: Int
    public var totals: EgressCounters
    /// True when the byte cap was reached.
    public var byteCapReached: Bool
    public var policy: EgressPolicy

    enum CodingKeys: String, CodingKey {
        case connections, totals, policy
        case droppedRecords = "dropped_records", byteCapReached = "byte_cap_reached"
    }

    public func jsonData() -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)))
        }
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? enc.encode(self)) ?? Data("{}".utf8)
    }

    /// The JSON text (sorted keys), as stored in the attempt record.
    public var jsonString: String { String(decoding: jsonData(), as: UTF8.self) }
}

/// The records and counters of one proxy. Written by the proxy's loop thread, read
/// from anywhere.
public final class EgressLog: Sendable {
    private struct State {
        var records: [EgressRecord] = []
        var dropped = 0
        var counters = EgressCounters()
        var capReached = false
    }
    private let state = Mutex(State())
    private let maxRecords: Int
    private let policy: EgressPolicy

    init(policy: EgressPolicy) {
        self.policy = policy
        self.maxRecords = max(0, policy.maxLogEntries)
    }

    func add(_ r: EgressRecord, denial: EgressDenial? = nil) {
        state.withLock { s in
            if s.records.count < maxRecords { s.records.append(r) } else { s.dropped += 1 }
            s.counters.count(r, denial: denial)
        }
        EgressMetrics.update { $0.count(r, denial: denial) }
    }

    func addBytes(up: UInt64, down: UInt64) {
        state.withLock { $0.counters.bytesUp += up; $0.counters.bytesDown += down }
        EgressMetrics.update { $0.bytesUp += up; $0.bytesDown += down }
    }

    func tunnelOpened() {
        state.withLock { $0.counters.tunnelsOpen += 1 }
        EgressMetrics.update { $0.tunnelsOpen += 1 }
    }

    func tunnelClosed(reason: TunnelEnd) {
        state.withLock {
            $0.counters.tunnelsOpen -= 1
            if reason == .byteCap { $0.counters.byteCapCloses += 1 }
            if reason == .idle { $0.counters.idleTimeouts += 1 }
        }
        EgressMetrics.update {
            $0.tunnelsOpen -= 1
            if reason == .byteCap { $0.byteCapCloses += 1 }
            if reason == .idle { $0.idleTimeouts += 1 }
        }
    }

    func markByteCapReached() { state.withLock { $0.capReached = true } }

    enum TunnelEnd { case normal, byteCap, idle }

    public var counters: EgressCounters { state.withLock { $0.counters } }

    public func report() -> EgressReport {
        state.withLock { s in
            EgressReport(connections: s.records, droppedRecords: s.dropped, totals: s.counters,
                         byteCapReached: s.capReached, policy: policy)
        }
    }
}

/// Process-wide egress counters (every proxy adds to them), plus how many proxies
/// run. For the daemon's metrics endpoint.
public enum EgressMetrics {
    private static let totals = Mutex(EgressCounters())
    private static let proxies = Atomic<Int>(0)

    /// The counters summed over every proxy this process ran.
    public static func snapshot() -> EgressCounters { totals.withLock { $0 } }
    /// Proxies (sandboxes in proxy mode) running now.
    public static var activeProxies: Int { proxies.load(ordering: .relaxed) }

    static func update(_ body: (inout EgressCounters) -> Void) { totals.withLock { body(&$0) } }
    static func proxyStarted() { proxies.add(1, ordering: .relaxed) }
    static func proxyStopped() { proxies.subtract(1, ordering: .relaxed) }
}
