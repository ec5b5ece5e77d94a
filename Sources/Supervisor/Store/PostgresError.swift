/// A failed PostgreSQL call: what we were doing, the server's SQLSTATE and its message.
/// Never carries the connection string: libpq's messages name the host and user at
/// most, and the connection's wrapper strips anything else it was given.
public struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    /// SQLSTATE ("23505" unique violation, "40001" serialization failure, "08006" …);
    /// empty when the client failed before the server answered.
    public var sqlstate: String
    /// The step that failed: "connect", "query", "BEGIN", "COMMIT", "LISTEN", …
    public var step: String
    /// The server's (or libpq's) message, one line.
    public var message: String

    public init(sqlstate: String, step: String, message: String) {
        self.sqlstate = sqlstate
        self.step = step
        self.message = message
    }

    public var description: String {
        "postgres \(step) failed" + (sqlstate.isEmpty ? "" : " (\(sqlstate))") + ": \(message)"
    }

    /// Class 23: integrity constraint violation.
    public var isConstraint: Bool { sqlstate.hasPrefix("23") }
    /// A transaction to run again: a serialization failure or a deadlock.
    public var isRetryable: Bool { sqlstate == "40001" || sqlstate == "40P01" }
    /// The connection is gone (class 08, or no SQLSTATE at all): open a new one.
    public var isConnectionLost: Bool { sqlstate.isEmpty || sqlstate.hasPrefix("08") || sqlstate == "57P01" }
}

extension PostgresError: SQLFailure {}
