import Foundation

/// An engine the store runs on: how it opens transactions, and the one statement the
/// engines cannot share, the claim. Everything else `TaskStore` does is written once
/// against `SQLConnection`.
package protocol StoreBackend: Sendable {
    var dialect: SQLDialect { get }
    /// The id this host's attempts are held under.
    var hostID: String { get }
    /// How long a running attempt's lease lasts without renewal; nil when only one host
    /// uses the database (its running attempts are its own: recovered at its start).
    var leaseDuration: TimeInterval? { get }

    /// A read-modify-write in one transaction, durable when this returns.
    func write<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Reads that never wait for a writer.
    func reading<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Reads that see one snapshot.
    func snapshot<T: Sendable>(_ body: (any SQLConnection) throws -> T) throws -> T
    func storedSchemaVersion() throws -> Int32
    /// Claims the next task to run (see `TaskStore.claimNext`), with `store.markClaimed`.
    func claim(_ request: ClaimRequest, store: TaskStore) throws -> ClaimedTask?
    /// The database answers a trivial query.
    func isHealthy() -> Bool
    /// Calls `handler(channel, payload)` for every `StoreChannel` notification another
    /// host sends, until cancelled; nil when no other host can send any (SQLite).
    func subscribe(_ handler: @escaping @Sendable (String, String) -> Void) throws -> (any StoreSubscription)?
}

/// A running `StoreBackend.subscribe`.
package protocol StoreSubscription: Sendable {
    func cancel()
}

/// What a claim must respect.
package struct ClaimRequest: Sendable {
    /// This host's running attempts may not exceed it.
    package var hostLimit: Int
    /// The default most running tasks of one installation (an installation's own
    /// `max_concurrent` replaces it), across every host.
    package var perInstallationLimit: Int
    /// The most running attempts across the fleet (nil: none).
    package var fleetLimit: Int?
    /// The installations' own limits.
    package var limits: [Int64: InstallationLimits]
    /// `TaskStore.claimLimitsJSON` of `limits`.
    package var limitsJSON: String
}

package struct ClaimedTask: Sendable {
    package var spec: TaskSpec
    /// The attempt number, which is also the claim's epoch.
    package var attempt: Int
    package init(spec: TaskSpec, attempt: Int) { self.spec = spec; self.attempt = attempt }
}
