import Foundation
import PostgresStore
import Supervisor

extension Daemon {
    /// The configured store, open and migrated. A PostgreSQL connection string is read
    /// from its file here and goes nowhere else: not into errors, logs or the config.
    static func openStore(_ config: DaemonConfig) throws -> TaskStore {
        switch config.store {
        case .sqlite:
            do {
                return try TaskStore(path: config.databasePath)
            } catch {
                throw DaemonError("cannot open the task store \(config.databasePath): \(error)")
            }
        case .postgres(let p):
            let conninfo: String
            do {
                conninfo = try PostgresConnection.readConnectionString(file: p.urlFile)
            } catch {
                throw DaemonError("store.url_file: \(error)")
            }
            do {
                let backend = try PostgresBackend(conninfo: conninfo, hostID: p.hostID, lease: p.lease.seconds,
                                                  poolSize: p.poolSize)
                let store = TaskStore(backend: backend)
                store.fleetLimit = p.fleetConcurrency
                return store
            } catch {
                throw DaemonError("cannot open the task store (postgres, host \(p.hostID)): \(error)")
            }
        }
    }
}
