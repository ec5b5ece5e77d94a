import Foundation
import Supervisor

/// A failed GitHub REST call.
///
/// Carries the endpoint (`METHOD /path`, never a query string or a header), the HTTP
/// status when there was a response, and GitHub's `message` (redacted of token shapes).
/// No case ever holds a token, a JWT or key material: `description` is safe to log.
public struct GitHubAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// GitHub answered with an error status that is not retried (most 4xx), or with a
        /// 5xx on every try.
        case http
        /// Rate limited, and the wait GitHub asked for exceeds the bound, or the retries ran out.
        case rateLimited = "rate_limited"
        /// No HTTP response: connection refused, reset, timed out, TLS failure.
        case transport
        /// A 2xx whose body is not the JSON expected.
        case invalidResponse = "invalid_response"
        /// Not a call that can be made: a task without an installation, a bad base URL.
        case configuration
    }

    public var kind: Kind
    /// `METHOD /path` relative to the API base, e.g. `POST /repos/o/r/check-runs`.
    public var endpoint: String
    /// The HTTP status of the last response, when there was one.
    public var status: Int?
    /// GitHub's `message` (or a short description of what went wrong), redacted.
    public var message: String
    /// How many times the request was sent (1 = no retry).
    public var attempts: Int

    public init(kind: Kind, endpoint: String, status: Int? = nil, message: String, attempts: Int = 1) {
        self.kind = kind
        self.endpoint = endpoint
        self.status = status
        self.message = Redactor.redactShapes(message)
        self.attempts = attempts
    }

    public var description: String {
        var s = "GitHub API \(endpoint)"
        switch kind {
        case .http: s += " failed: HTTP \(status.map(String.init) ?? "?")"
        case .rateLimited: s += " rate limited" + (status.map { " (HTTP \($0))" } ?? "")
        case .transport: s += " failed: no response"
        case .invalidResponse: s += " returned an unexpected response" + (status.map { " (HTTP \($0))" } ?? "")
        case .configuration: s += " not attempted"
        }
        if !message.isEmpty { s += ": \(message)" }
        if attempts > 1 { s += " (after \(attempts) tries)" }
        if let hint { s += " — \(hint)" }
        return s
    }

    /// A hint for the operator on errors with a well-known cause.
    public var hint: String? {
        guard kind == .http, let status else { return nil }
        let appEndpoint = endpoint.split(separator: " ").dropFirst().first?.hasPrefix("/app") ?? false
        switch status {
        case 401 where appEndpoint:
            return "the App JWT was rejected: check the App id, that the private key belongs to this App, and the host clock"
        case 401:
            return "the installation token was rejected (expired or revoked)"
        case 403 where message.localizedCaseInsensitiveContains("not accessible by integration"):
            return "the App lacks a permission this call needs, or the token was narrowed without it"
        case 404 where appEndpoint:
            return "the installation does not exist or does not belong to this App"
        default:
            return nil
        }
    }

    /// True for HTTP errors with this status.
    public func isHTTP(_ status: Int) -> Bool { kind == .http && self.status == status }
}
