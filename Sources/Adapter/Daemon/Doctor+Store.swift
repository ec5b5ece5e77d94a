import Foundation
import PostgresStore
import Supervisor

/// `doctor --config`: the store, looked at without changing it. Nothing is created or
/// migrated (serve does that); a connection string is read to connect, never printed.
extension Doctor {
    static func storeChecks(_ config: DaemonConfig) -> [Check] {
        switch config.store {
        case .sqlite: return [sqliteStoreCheck(path: config.databasePath)]
        case .postgres(let p): return postgresStoreChecks(p)
        }
    }

    static func sqliteStoreCheck(path: String) -> Check {
        let current = TaskStore.schemaVersion
        guard FileManager.default.fileExists(atPath: path) else {
            return Check(.ok, "store", "sqlite \(path) will be created (schema \(current))")
        }
        do {
            let v = try SQLiteBackend.schemaVersion(ofFile: path)
            return schemaCheck(found: v, what: "sqlite \(path)")
        } catch {
            return Check(.fail, "store", "sqlite \(path) cannot be read: \(error)")
        }
    }

    /// The schema version found against this build's: older is migrated by serve, newer refused.
    static func schemaCheck(found v: Int32, what: String) -> Check {
        let current = TaskStore.schemaVersion
        if v == current { return Check(.ok, "store", "\(what) has schema \(current)") }
        if v == 0 { return Check(.ok, "store", "\(what) is empty: serve creates schema \(current)") }
        if v < current { return Check(.ok, "store", "\(what) has schema \(v): serve migrates from \(v) to \(current)") }
        return Check(.fail, "store", "\(what) has schema \(v), newer than this build's \(current): serve will refuse it")
    }

    static func postgresStoreChecks(_ p: DaemonConfig.Store.Postgres, now: () -> Date = { Date() }) -> [Check] {
        let conninfo: String
        do {
            conninfo = try PostgresConnection.readConnectionString(file: p.urlFile)
        } catch {
            return [Check(.fail, "store url_file", "\(error): serve will refuse to start")]
        }
        var out = [Check(.ok, "store url_file", "\(p.urlFile) is private to this user")]
        let conn: PostgresConnection
        do {
            conn = try PostgresConnection(conninfo: conninfo, applicationName: "coven-supervisor doctor")
        } catch {
            out.append(Check(.fail, "store", "postgres: \(error): serve cannot start"))
            return out
        }
        out.append(postgresSchemaCheck(conn))
        out.append(clockCheck(conn, lease: p.lease.seconds, now: now))
        if let hostCheck = hostIDCheck(conn, hostID: p.hostID) { out.append(hostCheck) }
        return out
    }

    static func postgresSchemaCheck(_ conn: PostgresConnection) -> Check {
        do {
            // to_regclass: no error (and no aborted statement) when the table is not there.
            guard try conn.scalar("SELECT to_regclass('coven_schema') IS NOT NULL") == .int(1) else {
                return schemaCheck(found: 0, what: "postgres database")
            }
            let v = Int32(truncatingIfNeeded: try conn.scalar("SELECT MAX(version) FROM coven_schema").intValue ?? 0)
            return schemaCheck(found: v, what: "postgres database")
        } catch {
            return Check(.fail, "store", "postgres: reading the schema version failed: \(error)")
        }
    }

    /// Leases are judged on each host's own clock against times other hosts wrote: a host
    /// whose clock is off takes over live attempts early, or lets dead ones wait.
    static func clockCheck(_ conn: PostgresConnection, lease: TimeInterval, now: () -> Date) -> Check {
        let server: Date?, mid: Date
        do {
            let before = now()
            server = try conn.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS t", []).first?.date("t")
            mid = before.addingTimeInterval(now().timeIntervalSince(before) / 2)
        } catch {
            return Check(.fail, "store clock", "postgres: reading the server's clock failed: \(error)")
        }
        guard let server else { return Check(.fail, "store clock", "postgres: the server returned no time") }
        let skew = mid.timeIntervalSince(server)
        let said = "this host's clock is \(String(format: "%.3f", abs(skew))) s \(skew >= 0 ? "ahead of" : "behind") the database's"
        let why = "(leases are judged on each host's clock)"
        if abs(skew) > lease / 3 {
            return Check(.fail, "store clock", "\(said), more than a third of the \(Self.seconds(lease)) lease \(why): "
                         + "attempts would be taken over early or late; sync the clocks (NTP)")
        }
        if abs(skew) > 1 {
            return Check(.warn, "store clock", "\(said) \(why); keep it well under \(Self.seconds(lease / 3)) (NTP)")
        }
        return Check(.ok, "store clock", said)
    }

    /// Running attempts held under this host id with live leases: another daemon uses the
    /// same id (or this host's daemon runs). nil when there is no schema to look in.
    static func hostIDCheck(_ conn: PostgresConnection, hostID: String) -> Check? {
        guard (try? conn.scalar("SELECT to_regclass('attempts') IS NOT NULL")) == .int(1) else { return nil }
        do {
            let n = try conn.scalar("""
                SELECT COUNT(*) FROM attempts WHERE host_id = ? AND state = 'running'
                    AND lease_expires > extract(epoch FROM clock_timestamp())
                """, [hostID]).intValue ?? 0
            if n == 0 { return Check(.ok, "store host_id", "\(hostID) holds no live attempt") }
            return Check(.warn, "store host_id", "\(n) running attempt\(n == 1 ? "" : "s") held by \(hostID) with a live lease: "
                         + "fine if this host's daemon is running; otherwise another daemon uses the same host_id (each needs its own)")
        } catch {
            return Check(.warn, "store host_id", "could not look for live attempts of \(hostID): \(error)")
        }
    }

    static func seconds(_ t: TimeInterval) -> String {
        t == t.rounded() ? "\(Int(t)) s" : String(format: "%.1f s", t)
    }
}
