import Foundation
import Sandbox

/// What the sandbox options shared by `sandbox exec` and `run-task` set.
public protocol SandboxOptionState {
    var network: NetworkMode { get set }
    var egress: EgressPolicy { get set }
    /// `--allow-port` values; when any are given they replace the default ports.
    var ports: [Int] { get set }
    var uidRange: Range<UInt32>? { get set }
    /// `--egress-log`, where the command has it.
    var egressLogRequested: Bool { get }
}

extension SandboxOptionState {
    public var egressLogRequested: Bool { false }

    /// Egress options only mean something for a proxied sandbox; given with another network
    /// mode they would silently allow nothing, so they are refused.
    public mutating func finishEgress() throws {
        if !ports.isEmpty { egress.allowPorts = ports }
        let given = !egress.allowHosts.isEmpty || !ports.isEmpty || !egress.allowPrivateDestinations.isEmpty
            || !egress.staticHosts.isEmpty || egress.maxBytes != nil || egressLogRequested
        if given && network != .proxy {
            throw CLI.UsageError("--allow-host, --allow-port, --allow-private, --egress-host, --max-egress and --egress-log need --network proxy")
        }
    }
}

extension OptionTable.Option where State: SandboxOptionState {
    public static func network(default: String) -> Self {
        .value("--network", metavar: "none|host|proxy", help: "the sandbox's network (default: \(`default`)). proxy: "
               + "its own namespace with only loopback plus an egress proxy at 127.0.0.1:3128 (HTTPS_PROXY & co. set) "
               + "that allows only the hosts allowed below") {
            $0.network = try OptionValue.choice("--network", $1, [("none", .none), ("host", .host), ("proxy", .proxy)])
        }
    }

    /// `--allow-host`, `--allow-port`, `--allow-private`, `--egress-host`.
    public static func egressAllowlist(hostsNote: String, portsNote: String) -> [Self] {
        [
            .value("--allow-host", metavar: "PATTERN", help: "proxy: allow a host, *.suffix or IP literal (repeatable; \(hostsNote))") {
                guard HostPattern($1) != nil else { throw CLI.UsageError("--allow-host: '\($1)' is not a host name, *.suffix or IP address") }
                $0.egress.allowHosts.append($1)
            },
            .value("--allow-port", metavar: "N", help: "proxy: allow a destination port (repeatable; \(portsNote))") {
                $0.ports.append(try OptionValue.integer("--allow-port", $1, in: 1...65535, what: "a port number"))
            },
            .value("--allow-private", metavar: "ADDR", help: "proxy: allow connecting to this loopback/private/link-local "
                   + "address or CIDR (repeatable; the host must still be allowed)") {
                guard CIDR($1) != nil else { throw CLI.UsageError("--allow-private: '\($1)' is not an address or CIDR") }
                $0.egress.allowPrivateDestinations.append($1)
            },
            .value("--egress-host", metavar: "NAME=ADDR", help: "proxy: resolve NAME to ADDR without DNS (repeatable)") {
                let kv = $1.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, HostPattern.normalizedName(kv[0]) != nil, IPAddress(kv[1]) != nil else {
                    throw CLI.UsageError("--egress-host: expected NAME=ADDRESS, got '\($1)'")
                }
                $0.egress.staticHosts[kv[0]] = kv[1]
            },
        ]
    }

    public static func uidRange(what: String) -> Self {
        .value("--uid-range", metavar: "START-END", help: "as root: lease \(what) host uid from these uids, END included, "
               + "at least 65536 (default: 300000-365535; leases are shared with every coven-supervisor on the host "
               + "through lock files in /run/coven-supervisor/host-uids)") {
            $0.uidRange = try OptionValue.uidRange("--uid-range", $1)
        }
    }
}
