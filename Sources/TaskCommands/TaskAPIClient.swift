import Foundation
import HTTP

/// Why a task API call did not succeed, kept apart from its message.
public enum TaskAPIError: Error, Equatable, CustomStringConvertible {
    /// No answer: nothing listens, the connection broke, or it timed out.
    case unreachable(url: String, detail: String)
    /// The daemon answered with an error status.
    case refused(status: Int, message: String)
    /// The daemon answered something that is not the API's JSON.
    case badResponse(String)

    public var description: String {
        switch self {
        case .unreachable(let url, let detail): return "cannot reach the daemon at \(url): \(detail)"
        case .refused(let status, let message): return "the daemon refused (HTTP \(status)): \(message)"
        case .badResponse(let detail): return "unexpected answer from the daemon: \(detail)"
        }
    }
}

/// The daemon's task API over HTTP, as the `tasks` commands use it.
public struct TaskAPIClient: Sendable {
    public let endpoint: TaskAPIEndpoint
    let http = HTTPClient(keepAlive: false)
    public var timeout: TimeInterval = 30

    public init(endpoint: TaskAPIEndpoint) { self.endpoint = endpoint }

    var headers: HTTPHeaders {
        ["Authorization": "Bearer " + endpoint.token, "Accept": "application/json"]
    }

    /// A JSON object answered with a 2xx.
    public func call(_ method: String, _ path: String, body: Data? = nil) throws(TaskAPIError) -> [String: Any] {
        var h = headers
        if body != nil { h.add("Content-Type", "application/json") }
        let response: HTTPClientResponse
        do {
            response = try http.request(method, endpoint.baseURL + path, headers: h, body: body, timeout: timeout)
        } catch {
            throw .unreachable(url: endpoint.baseURL, detail: "\(error)")
        }
        return try Self.object(response)
    }

    /// Streams a 2xx body to `onBody` until the daemon ends it.
    public func stream(_ path: String, onBody: @escaping (Data) -> Void) throws(TaskAPIError) {
        let response: HTTPClientResponse
        do {
            // A follow lasts as long as the attempt: the bound is the attempt's, not ours.
            response = try http.stream("GET", endpoint.baseURL + path, headers: headers, timeout: 30 * 86400, onBody: onBody)
        } catch {
            throw .unreachable(url: endpoint.baseURL, detail: "\(error)")
        }
        if !(200...299).contains(response.status) { _ = try Self.object(response) }
    }

    static func object(_ response: HTTPClientResponse) throws(TaskAPIError) -> [String: Any] {
        let parsed = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
        guard (200...299).contains(response.status) else {
            let message = parsed?["error"] as? String
                ?? String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .refused(status: response.status, message: message.isEmpty ? response.reason : message)
        }
        guard let parsed else { throw .badResponse("HTTP \(response.status) without a JSON object") }
        return parsed
    }

    /// `path` with a query of the given (name, value) pairs, percent-encoded.
    static func path(_ path: String, query: [(String, String?)]) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#/")
        let parts = query.compactMap { k, v in
            v.map { "\(k)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
        }
        return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
    }

    /// A task id as one path segment.
    static func segment(_ id: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }
}
