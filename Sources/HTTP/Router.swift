import Foundation

/// Method + path-pattern routing.
///
/// Patterns are absolute paths whose segments are literals or `{name}` parameters:
/// `GET /api/tasks/{id}`. Matching is per segment on the percent-decoded request path
/// (split before decoding, so `%2F` stays inside one parameter); a parameter never
/// matches an empty segment. When several patterns match, the one with more literal
/// segments wins (`/tasks/stats` beats `/tasks/{id}`), then the one registered first.
///
/// - no pattern matches the path → 404
/// - a pattern matches but not for this method → 405 with `Allow`
/// - `HEAD` is served by the `GET` route when no `HEAD` route exists (the server drops
///   the body)
/// - a path with an invalid percent-escape → 400
///
/// Handlers may throw: `HTTPError` becomes its status, anything else a 500.
/// Captured parameters arrive in `request.pathParameters`.
///
/// A route may also have a head handler, which the server asks once the request's head is
/// in and before its body is read (`inspectHead`): to refuse a request that cannot be
/// authentic without buffering its body, or to watch the body stream in.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse
    public typealias HeadHandler = @Sendable (HTTPRequest) -> HTTPHeadDecision

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct Route: Sendable {
        var method: String
        var pattern: String
        var segments: [Segment]
        var head: HeadHandler?
        var handler: Handler
        var literalCount: Int { segments.filter { if case .literal = $0 { true } else { false } }.count }
    }

    private var routes: [Route] = []

    public init() {}

    /// Every registered route as "METHOD /pattern", in registration order (for checking a
    /// description of the interface, such as an OpenAPI document, against the real one).
    public var registered: [String] { routes.map { "\($0.method) \($0.pattern)" } }

    /// Registers `handler` for `method` (case-sensitive, e.g. `GET`) and `pattern`.
    /// A malformed pattern (not starting with `/`, empty or duplicate `{}` names) is a
    /// programming error and traps.
    public mutating func add(_ method: String, _ pattern: String, head: HeadHandler? = nil, _ handler: @escaping Handler) {
        precondition(pattern.hasPrefix("/"), "route pattern must start with '/': \(pattern)")
        precondition(HTTPSyntax.isToken(method), "invalid method: \(method)")
        var names = Set<String>()
        let segments: [Segment] = Self.split(pattern).map { piece in
            if piece.hasPrefix("{") && piece.hasSuffix("}") && piece.count > 2 {
                let name = String(piece.dropFirst().dropLast())
                precondition(names.insert(name).inserted, "duplicate parameter {\(name)} in \(pattern)")
                return .parameter(name)
            }
            precondition(!piece.contains("{") && !piece.contains("}"), "malformed segment '\(piece)' in \(pattern)")
            return .literal(piece)
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, head: head, handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, head: HeadHandler? = nil, _ handler: @escaping Handler) {
        add("POST", pattern, head: head, handler)
    }
    public mutating func put(_ pattern: String, head: HeadHandler? = nil, _ handler: @escaping Handler) {
        add("PUT", pattern, head: head, handler)
    }
    public mutating func patch(_ pattern: String, head: HeadHandler? = nil, _ handler: @escaping Handler) {
        add("PATCH", pattern, head: head, handler)
    }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add("DELETE", pattern, handler) }

    /// The decision of the head handler of the route `request` goes to; `.proceed` when that
    /// route has none, and when no route matches (the handler then answers 400/404/405).
    @Sendable public func inspectHead(_ request: HTTPRequest) -> HTTPHeadDecision {
        guard case .route(let route, let parameters) = select(request), let head = route.head else { return .proceed }
        var routed = request
        routed.pathParameters = parameters
        return head(routed)
    }

    /// Routes `request` and returns the handler's response (or 400/404/405/500).
    /// Usable directly as an `HTTPServer` handler: `HTTPServer(handler: router.handle)`.
    @Sendable public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let chosen: (route: Route, parameters: [String: String])
        switch select(request) {
        case .failed(let response): return response
        case .route(let route, let parameters): chosen = (route, parameters)
        }
        var routed = request
        routed.pathParameters = chosen.parameters
        do {
            return try chosen.route.handler(routed)
        } catch let error as HTTPError {
            return error.response
        } catch {
            return HTTPError(500, "internal server error").response
        }
    }

    private enum Selection {
        case route(Route, [String: String])
        case failed(HTTPResponse)
    }

    private func select(_ request: HTTPRequest) -> Selection {
        let rawSegments = Self.split(request.path)
        var decoded: [String] = []
        decoded.reserveCapacity(rawSegments.count)
        for raw in rawSegments {
            guard let segment = HTTPRequest.percentDecode(raw) else {
                return .failed(HTTPError(400, "invalid percent-encoding in path").response)
            }
            decoded.append(segment)
        }

        var pathMatches: [(route: Route, parameters: [String: String])] = []
        for route in routes {
            if let parameters = Self.match(route.segments, decoded) { pathMatches.append((route, parameters)) }
        }
        guard !pathMatches.isEmpty else { return .failed(HTTPError(404, "no route for \(request.path)").response) }

        let best = { (method: String) -> (route: Route, parameters: [String: String])? in
            pathMatches.filter { $0.route.method == method }
                .enumerated()
                .max { a, b in
                    // more literals wins; on a tie the earlier registration wins
                    (a.element.route.literalCount, b.offset) < (b.element.route.literalCount, a.offset)
                }?.element
        }
        guard let chosen = best(request.method) ?? (request.method == "HEAD" ? best("GET") : nil) else {
            var allowed = Set(pathMatches.map(\.route.method))
            if allowed.contains("GET") { allowed.insert("HEAD") }
            var response = HTTPError(405, "\(request.method) not allowed on \(request.path)").response
            response.headers.replaceOrAdd("Allow", allowed.sorted().joined(separator: ", "))
            return .failed(response)
        }
        return .route(chosen.route, chosen.parameters)
    }

    /// Path segments after the leading `/` (`/` → `[""]`, `/a/` → `["a", ""]`).
    private static func split(_ path: String) -> [String] {
        path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }

    private static func match(_ pattern: [Segment], _ path: [String]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(pattern, path) {
            switch segment {
            case .literal(let literal):
                if literal != value { return nil }
            case .parameter(let name):
                if value.isEmpty { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}
