import Foundation

/// A request the server refuses, with the status to answer (the connection is then closed).
struct HTTPProtocolError: Error, Equatable, Sendable {
    var status: Int
    var message: String
    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// The parsed request line and header fields of one request.
struct HTTPRequestHead: Sendable, Equatable {
    var method: String
    var target: String
    var version: HTTPVersion
    var headers: HTTPHeaders

    /// Whether the client asked to keep the connection open after this request:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    var wantsKeepAlive: Bool {
        let tokens = headers.tokens(for: "Connection")
        if version == .http1_1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive") && !tokens.contains("close")
    }

    /// Checks the message framing and says how the body is delimited.
    ///
    /// - `Transfer-Encoding: chunked` (alone; any case) → `.chunked`, decoded by
    ///   `ChunkedBodyDecoder` within the same limits as a `Content-Length` body.
    /// - `Transfer-Encoding` together with `Content-Length` → 400: the two framings disagree
    ///   about where the body ends, which is how request smuggling works (RFC 9112 §6.3
    ///   lets a server refuse it); the connection is closed.
    /// - `Transfer-Encoding` on HTTP/1.0 → 400 (RFC 9112 §6.1: faulty framing).
    /// - `chunked` not last, or applied twice → 400; any other transfer coding (gzip, …) →
    ///   501 Not Implemented (RFC 9112 §6.1).
    /// - `Content-Length` that is not 1*DIGIT, has more than 18 digits, or has several
    ///   differing values (in separate fields or a comma list) → 400.
    /// - `Content-Length` above `limits.maxBodySize` → 413.
    /// - POST, PUT and PATCH with neither → 411; other methods have no body.
    /// - HTTP/1.1 without exactly one `Host` → 400 (when `limits.requireHost`).
    func validatedFraming(limits: HTTPServerLimits) throws(HTTPProtocolError) -> BodyFraming {
        if limits.requireHost, version == .http1_1 {
            let hosts = headers.values(for: "Host")
            if hosts.count != 1 { throw HTTPProtocolError(400, "exactly one Host header is required") }
        }
        let values = headers.values(for: "Content-Length")
        if headers.contains("Transfer-Encoding") {
            if !values.isEmpty {
                throw HTTPProtocolError(400, "Transfer-Encoding and Content-Length together are refused (request smuggling)")
            }
            if version == .http1_0 { throw HTTPProtocolError(400, "Transfer-Encoding is not allowed in HTTP/1.0") }
            // Empty elements of the list count: "chunked," is not a valid coding list.
            let codings = headers.values(for: "Transfer-Encoding").flatMap {
                $0.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")).lowercased()
                }
            }
            guard let last = codings.last, last == "chunked" else {
                if codings.contains("chunked") { throw HTTPProtocolError(400, "chunked must be the last transfer coding") }
                throw HTTPProtocolError(501, "only the chunked transfer coding is supported")
            }
            if codings.count > 1 {
                if codings.dropLast().contains("chunked") { throw HTTPProtocolError(400, "chunked applied more than once") }
                throw HTTPProtocolError(501, "only the chunked transfer coding is supported")
            }
            return .chunked
        }
        if values.isEmpty {
            if ["POST", "PUT", "PATCH"].contains(method) {
                throw HTTPProtocolError(411, "Content-Length (or Transfer-Encoding: chunked) is required")
            }
            return .length(0)
        }
        var length: Int?
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = element.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
                guard !digits.isEmpty, digits.utf8.count <= 18,
                    digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                    let parsed = Int(digits)
                else { throw HTTPProtocolError(400, "invalid Content-Length") }
                if let length, length != parsed {
                    throw HTTPProtocolError(400, "conflicting Content-Length values")
                }
                length = parsed
            }
        }
        guard let length else { throw HTTPProtocolError(400, "invalid Content-Length") }
        if length > limits.maxBodySize {
            throw HTTPProtocolError(413, "request body larger than \(limits.maxBodySize) bytes")
        }
        return .length(length)
    }
}

/// How a request's body is delimited.
enum BodyFraming: Equatable, Sendable {
    /// Exactly this many bytes (0: no body).
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// Incremental decoder of a chunked request body (RFC 9112 §7.1), as strict as the head
/// parser: lines end in CRLF, a chunk size is 1 to 15 hex digits, chunk extensions are
/// accepted and ignored, chunk data must be followed by CRLF, trailer fields are checked
/// like header fields and dropped. Bounds: a size or trailer line longer than
/// `maxHeaderLineLength` or trailers past `maxHeaderBytes`/`maxHeaderCount` → 400/431;
/// a chunk that would take the body past `maxBodySize` → 413, refused at its size line,
/// before its data is read.
///
/// Call `decode` with all unconsumed bytes each time more arrive; it consumes whole
/// elements only (a partial line stays unconsumed) and hands out decoded data as it goes.
struct ChunkedBodyDecoder {
    private enum State { case size, data(Int), dataEnd, trailers, done }
    let limits: HTTPServerLimits
    private var state = State.size
    private var decoded = 0
    private var trailerBytes = 0
    private var trailerCount = 0

    init(limits: HTTPServerLimits) { self.limits = limits }

    var isDone: Bool { if case .done = state { true } else { false } }

    /// Decodes what it can of `input`; `output` receives the body's bytes and may refuse
    /// them by returning an error, which is thrown. Returns how many input bytes were used.
    mutating func decode(
        _ input: UnsafeBufferPointer<UInt8>, output: (UnsafeBufferPointer<UInt8>) -> HTTPProtocolError?
    ) throws(HTTPProtocolError) -> Int {
        var position = 0
        while position < input.count {
            switch state {
            case .done:
                return position
            case .data(let remaining):
                let n = min(remaining, input.count - position)
                if let refused = output(UnsafeBufferPointer(rebasing: input[position..<(position + n)])) { throw refused }
                position += n
                state = remaining == n ? .dataEnd : .data(remaining - n)
            case .dataEnd:
                guard input.count - position >= 2 else { return position }
                guard input[position] == 0x0D, input[position + 1] == 0x0A else {
                    throw HTTPProtocolError(400, "chunk data not followed by CRLF")
                }
                position += 2
                state = .size
            case .size, .trailers:
                guard let line = try nextLine(input, from: position) else { return position }
                position = line.next
                let bytes = UnsafeBufferPointer(rebasing: input[line.range])
                if case .size = state {
                    let size = try chunkSize(bytes)
                    if size > limits.maxBodySize - decoded {
                        throw HTTPProtocolError(413, "request body larger than \(limits.maxBodySize) bytes")
                    }
                    decoded += size
                    state = size == 0 ? .trailers : .data(size)
                } else if bytes.isEmpty {
                    state = .done
                } else {
                    try trailer(bytes)
                }
            }
        }
        return position
    }

    /// The next CRLF-terminated line at `start` (its range without CRLF, and where the
    /// next element begins), or nil while it is incomplete.
    private func nextLine(_ input: UnsafeBufferPointer<UInt8>, from start: Int) throws(HTTPProtocolError)
        -> (range: Range<Int>, next: Int)?
    {
        let pending = input.count - start
        guard let base = input.baseAddress,
            let hit = memchr(base + start, 0x0A, min(pending, limits.maxHeaderLineLength + 2))
        else {
            if pending > limits.maxHeaderLineLength + 1 { throw HTTPProtocolError(400, "chunk line too long") }
            return nil
        }
        let lf = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        guard lf > start, input[lf - 1] == 0x0D else { throw HTTPProtocolError(400, "chunk lines must end with CRLF") }
        return (start..<(lf - 1), lf + 1)
    }

    /// `1*16HEXDIG [ chunk-ext ]`; extensions are checked for control characters only.
    private func chunkSize(_ line: UnsafeBufferPointer<UInt8>) throws(HTTPProtocolError) -> Int {
        var value = 0
        var digits = 0
        for b in line {
            let digit: Int
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(b - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(b - UInt8(ascii: "A")) + 10
            default: digit = -1
            }
            if digit < 0 { break }
            digits += 1
            // 15 digits cannot overflow an Int; anything that long is past every body limit anyway.
            if digits > 15 { throw HTTPProtocolError(400, "invalid chunk size") }
            value = value * 16 + digit
        }
        guard digits > 0 else { throw HTTPProtocolError(400, "invalid chunk size") }
        let rest = line[digits...]
        if let first = rest.first {
            guard first == UInt8(ascii: ";") || first == 0x20 || first == 0x09,
                rest.allSatisfy(HTTPSyntax.isFieldValueByte)
            else { throw HTTPProtocolError(400, "invalid chunk size") }
        }
        return value
    }

    private mutating func trailer(_ line: UnsafeBufferPointer<UInt8>) throws(HTTPProtocolError) {
        trailerBytes += line.count + 2
        trailerCount += 1
        if trailerBytes > limits.maxHeaderBytes || trailerCount > limits.maxHeaderCount {
            throw HTTPProtocolError(431, "request trailers too large")
        }
        guard line[0] != 0x20, line[0] != 0x09, let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            line[..<colon].allSatisfy(HTTPSyntax.isTokenByte), line[(colon + 1)...].allSatisfy(HTTPSyntax.isFieldValueByte)
        else { throw HTTPProtocolError(400, "malformed trailer field") }
    }
}

/// Character classes of RFC 9110/9112.
enum HTTPSyntax {
    /// tchar: `!#$%&'*+-.^_`|~`, DIGIT, ALPHA.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isToken(_ s: String) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isTokenByte) }

    /// field-vchar / SP / HTAB (obs-text allowed); no CTLs, so no CR, LF or NUL.
    static func isFieldValueByte(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }

    static func isValidFieldValue(_ s: String) -> Bool { s.utf8.allSatisfy(isFieldValueByte) }

    /// Bytes allowed in a request-target: visible ASCII only.
    static func isTargetByte(_ b: UInt8) -> Bool { b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "#") }

    /// Header values are kept as UTF-8 when valid, else as Latin-1 (one scalar per byte),
    /// so that no byte is lost.
    static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        var out = ""
        out.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
        return out
    }
}

/// Incremental parser for one request head (request line + header fields + empty line).
///
/// Strict: lines must end in CRLF (a bare LF or CR is a 400), no whitespace between a
/// field name and its colon, no obsolete line folding, no control characters in values,
/// exactly one SP between request-line parts. Up to 8 empty lines before the request line
/// are skipped (RFC 9112 §2.2). Limits are checked as bytes arrive, so an endless line
/// is refused as soon as it passes its limit rather than when it ends.
///
/// Call `parse` with all unconsumed bytes each time more arrive; it resumes where it stopped.
struct HTTPRequestHeadParser {
    enum Result: Equatable {
        case needMore
        /// The head, and how many bytes of the input it (and any skipped empty lines) used.
        case complete(HTTPRequestHead, consumed: Int)
        case failed(HTTPProtocolError)
    }

    let limits: HTTPServerLimits
    private var scanned = 0
    private var leadingEmptyLines = 0
    private var requestLine: (method: String, target: String, version: HTTPVersion)?
    private var headers = HTTPHeaders()
    private var headerBytes = 0

    init(limits: HTTPServerLimits) { self.limits = limits }

    /// Whether any byte of a request (beyond skipped empty lines) has been seen.
    var hasPartialRequest: Bool { requestLine != nil }

    mutating func reset() { self = HTTPRequestHeadParser(limits: limits) }

    mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result {
        while true {
            let pending = bytes.count - scanned
            guard let lf = findLF(bytes, from: scanned) else {
                // Refuse an unterminated line as soon as it cannot fit any more.
                if requestLine == nil {
                    if pending > limits.maxRequestLineLength + 1 {
                        return .failed(HTTPProtocolError(414, "request line too long"))
                    }
                } else {
                    if pending > limits.maxHeaderLineLength + 1 {
                        return .failed(HTTPProtocolError(431, "header line too long"))
                    }
                    if headerBytes + pending > limits.maxHeaderBytes + 1 {
                        return .failed(HTTPProtocolError(431, "request headers too large"))
                    }
                }
                return .needMore
            }
            guard lf > scanned, bytes[lf - 1] == 0x0D else {
                return .failed(HTTPProtocolError(400, "lines must end with CRLF"))
            }
            let line = UnsafeBufferPointer(rebasing: bytes[scanned..<(lf - 1)])
            scanned = lf + 1
            if let requestLine {
                if line.isEmpty {
                    let head = HTTPRequestHead(
                        method: requestLine.method, target: requestLine.target,
                        version: requestLine.version, headers: headers)
                    return .complete(head, consumed: scanned)
                }
                if line.count > limits.maxHeaderLineLength {
                    return .failed(HTTPProtocolError(431, "header line too long"))
                }
                headerBytes += line.count + 2
                if headerBytes > limits.maxHeaderBytes {
                    return .failed(HTTPProtocolError(431, "request headers too large"))
                }
                if headers.count >= limits.maxHeaderCount {
                    return .failed(HTTPProtocolError(431, "too many header fields"))
                }
                switch parseField(line) {
                case .success(let field): headers.add(field.name, field.value)
                case .failure(let error): return .failed(error)
                }
            } else {
                if line.isEmpty {
                    leadingEmptyLines += 1
                    if leadingEmptyLines > 8 { return .failed(HTTPProtocolError(400, "expected a request line")) }
                    continue
                }
                if line.count > limits.maxRequestLineLength {
                    return .failed(HTTPProtocolError(414, "request line too long"))
                }
                switch parseRequestLine(line) {
                case .success(let parsed): requestLine = parsed
                case .failure(let error): return .failed(error)
                }
            }
        }
    }

    private func findLF(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + start, 0x0A, bytes.count - start) else { return nil }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    private func parseRequestLine(_ line: UnsafeBufferPointer<UInt8>)
        -> Swift.Result<(method: String, target: String, version: HTTPVersion), HTTPProtocolError>
    {
        let bad = HTTPProtocolError(400, "malformed request line")
        guard let sp1 = line.firstIndex(of: 0x20) else { return .failure(bad) }
        guard let sp2 = line[(sp1 + 1)...].firstIndex(of: 0x20) else { return .failure(bad) }
        let method = line[..<sp1]
        let target = line[(sp1 + 1)..<sp2]
        let version = line[(sp2 + 1)...]
        guard !method.isEmpty, method.allSatisfy(HTTPSyntax.isTokenByte) else { return .failure(bad) }
        guard !target.isEmpty, target.allSatisfy(HTTPSyntax.isTargetByte) else { return .failure(bad) }
        // "HTTP/" DIGIT "." DIGIT
        let v = Array(version)
        guard v.count == 8, v[0...4].elementsEqual("HTTP/".utf8), v[6] == UInt8(ascii: "."),
            (0x30...0x39).contains(v[5]), (0x30...0x39).contains(v[7])
        else { return .failure(bad) }
        let parsedVersion = HTTPVersion(major: Int(v[5] - 0x30), minor: Int(v[7] - 0x30))
        guard parsedVersion == .http1_1 || parsedVersion == .http1_0 else {
            return .failure(HTTPProtocolError(505, "only HTTP/1.0 and HTTP/1.1 are supported"))
        }
        let methodString = String(decoding: method, as: UTF8.self)
        let targetString = String(decoding: target, as: UTF8.self)
        // origin-form, absolute-form (http/https), or "*" for OPTIONS.
        let lower = targetString.lowercased()
        let validForm =
            targetString.hasPrefix("/")
            || (targetString == "*" && methodString == "OPTIONS")
            || lower.hasPrefix("http://") || lower.hasPrefix("https://")
        guard validForm else { return .failure(HTTPProtocolError(400, "invalid request target")) }
        return .success((methodString, targetString, parsedVersion))
    }

    private func parseField(_ line: UnsafeBufferPointer<UInt8>) -> Swift.Result<HTTPHeaders.Field, HTTPProtocolError> {
        if line[0] == 0x20 || line[0] == 0x09 {
            return .failure(HTTPProtocolError(400, "obsolete header line folding"))
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            line[..<colon].allSatisfy(HTTPSyntax.isTokenByte)
        else { return .failure(HTTPProtocolError(400, "malformed header field")) }
        var start = colon + 1
        var end = line.count
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        let value = UnsafeBufferPointer(rebasing: line[start..<end])
        guard value.allSatisfy(HTTPSyntax.isFieldValueByte) else {
            return .failure(HTTPProtocolError(400, "invalid character in header value"))
        }
        let name = String(decoding: UnsafeBufferPointer(rebasing: line[..<colon]), as: UTF8.self)
        return .success(HTTPHeaders.Field(name: name, value: HTTPSyntax.string(value)))
    }
}
