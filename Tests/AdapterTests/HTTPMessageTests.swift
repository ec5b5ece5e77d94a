// Socket-free unit tests: headers, request helpers, response helpers and serialization,
// and the head parser fed in pieces.
import Foundation
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPMessageTests: XCTestCase {

    // MARK: Headers

    func testHeaderLookupIsCaseInsensitiveAndKeepsOrder() {
        var headers: HTTPHeaders = ["Set-Cookie": "a=1", "Content-Type": "text/plain", "set-cookie": "b=2"]
        XCTAssertEqual(headers["content-TYPE"], "text/plain")
        XCTAssertEqual(headers.values(for: "SET-COOKIE"), ["a=1", "b=2"])
        headers["Set-Cookie"] = "c=3"
        XCTAssertEqual(headers.values(for: "set-cookie"), ["c=3"], "setting replaces every duplicate")
        XCTAssertEqual(headers.map(\.name), ["Set-Cookie", "Content-Type"], "replacement keeps the first position")
        headers["content-type"] = nil
        XCTAssertFalse(headers.contains("Content-Type"))
    }

    func testHeaderTokens() {
        let headers: HTTPHeaders = ["Connection": "Keep-Alive, Upgrade", "connection": " close "]
        XCTAssertEqual(headers.tokens(for: "connection"), ["keep-alive", "upgrade", "close"])
    }

    // MARK: Request helpers

    func testTargetSplitting() {
        let request = HTTPRequest(method: "GET", target: "/a%2Fb/c?x=1&x=2&flag&sp=a+b%21")
        XCTAssertEqual(request.path, "/a%2Fb/c")
        XCTAssertEqual(request.decodedPath, "/a/b/c")
        XCTAssertEqual(request.queryItems.map(\.name), ["x", "x", "flag", "sp"])
        XCTAssertEqual(request.queryValue("x"), "1")
        XCTAssertEqual(request.queryValue("flag"), "")
        XCTAssertEqual(request.queryValue("sp"), "a b!")
        XCTAssertNil(HTTPRequest(method: "GET", target: "/p").query)
    }

    func testAbsoluteFormTargetIsReducedToPath() {
        let request = HTTPRequest(method: "GET", target: "http://example.com:80/x/y?z=1")
        XCTAssertEqual(request.path, "/x/y")
        XCTAssertEqual(request.query, "z=1")
        XCTAssertEqual(HTTPRequest(method: "GET", target: "http://example.com").path, "/")
    }

    func testPercentDecoding() {
        XCTAssertEqual(HTTPRequest.percentDecode("caf%C3%A9"), "café")
        XCTAssertNil(HTTPRequest.percentDecode("%zz"), "invalid escape")
        XCTAssertNil(HTTPRequest.percentDecode("%4"), "truncated escape")
        XCTAssertNil(HTTPRequest.percentDecode("%FF"), "invalid UTF-8")
        XCTAssertEqual(HTTPRequest.percentDecode("a+b"), "a+b", "+ is literal outside forms")
        XCTAssertEqual(HTTPRequest.percentEncode("a b/é"), "a%20b%2F%C3%A9")
    }

    // MARK: Response helpers and serialization

    func testJSONFromEncodable() throws {
        struct Payload: Encodable { var id: Int; var url: String }
        let response = HTTPResponse.json(201, Payload(id: 7, url: "a/b"))
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(response.headers["Content-Type"], "application/json")
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), #"{"id":7,"url":"a/b"}"#)
    }

    func testJSONFromDictionary() throws {
        let response = HTTPResponse.json(200, ["ok": true, "n": 2] as [String: Any])
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), #"{"n":2,"ok":true}"#)
    }

    func testJSONLiteralsNeedNoCasts() {
        let mixed = HTTPResponse.json(200, ["ok": true, "n": 2])
        XCTAssertEqual(String(decoding: mixed.body, as: UTF8.self), #"{"n":2,"ok":true}"#)
        let uniform = HTTPResponse.json(200, ["a": 1])
        XCTAssertEqual(String(decoding: uniform.body, as: UTF8.self), #"{"a":1}"#)
    }

    func testJSONFromInvalidObjectIs500() {
        XCTAssertEqual(HTTPResponse.json(200, ["date": Date()] as [String: Any]).status, 500)
    }

    func testJSONFromRawData() {
        let response = HTTPResponse.json(200, data: Data("[1]".utf8))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "[1]", "raw data must be sent as-is")
    }

    func testSerializationFramesAndSanitizes() {
        var response = HTTPResponse.text(200, "hello", headers: ["Content-Length": "999", "X-Evil": "a\r\nInjected: 1"])
        response.headers.add("Connection", "keep-alive")
        let wire = String(decoding: response.serialized(headRequest: false, close: true, http10KeepAlive: false), as: UTF8.self)
        XCTAssertTrue(wire.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertTrue(wire.contains("Content-Length: 5\r\n"), "the server computes Content-Length")
        XCTAssertFalse(wire.contains("999"), "a handler's Content-Length must be dropped")
        XCTAssertFalse(wire.contains("Injected"), "a header value with CRLF must be dropped")
        XCTAssertTrue(wire.contains("Connection: close\r\n"))
        XCTAssertFalse(wire.contains("keep-alive"), "the server owns Connection")
        XCTAssertTrue(wire.hasSuffix("\r\n\r\nhello"))
    }

    func testNoContentHasNoLengthOrBody() {
        let wire = String(decoding: HTTPResponse(status: 204, body: Data("x".utf8))
            .serialized(headRequest: false, close: false, http10KeepAlive: false), as: UTF8.self)
        XCTAssertFalse(wire.contains("Content-Length"))
        XCTAssertTrue(wire.hasSuffix("\r\n\r\n"))
    }

    func testHTTPDateFormat() {
        XCTAssertEqual(HTTPDate.format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    // MARK: Parser

    private func parse(_ text: String, limits: HTTPServerLimits = HTTPServerLimits(), pieceSize: Int = .max)
        -> HTTPRequestHeadParser.Result
    {
        var parser = HTTPRequestHeadParser(limits: limits)
        let bytes = Array(text.utf8)
        var end = 0
        while true {
            end = min(bytes.count, end + min(pieceSize, bytes.count))
            let result = bytes[0..<end].withUnsafeBufferPointer { parser.parse($0) }
            if result != .needMore || end == bytes.count { return result }
        }
    }

    func testParserResumesAcrossPieces() {
        let text = "\r\nPOST /x?y HTTP/1.1\r\nHost: h\r\nX-A:  spaced value \t\r\nContent-Length: 2\r\n\r\nhi"
        let whole = parse(text)
        let byteByByte = parse(text, pieceSize: 1)
        XCTAssertEqual(whole, byteByByte, "feeding one byte at a time must give the same result")
        guard case .complete(let head, let consumed) = whole else { return XCTFail("not complete: \(whole)") }
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.target, "/x?y")
        XCTAssertEqual(head.headers["x-a"], "spaced value")
        XCTAssertEqual(consumed, text.utf8.count - 2, "the body must not be consumed with the head")
    }

    func testParserRefusesLongLineBeforeItEnds() {
        var limits = HTTPServerLimits()
        limits.maxHeaderLineLength = 10
        let result = parse("GET / HTTP/1.1\r\nX: 0123456789abcdef", limits: limits)
        XCTAssertEqual(result, .failed(HTTPProtocolError(431, "header line too long")))
    }

    func testRequestLineLimitBoundary() {
        var limits = HTTPServerLimits()
        limits.maxRequestLineLength = 32
        let exact = "GET /" + String(repeating: "a", count: 32 - 14) + " HTTP/1.1"  // 32 bytes
        XCTAssertEqual(exact.utf8.count, 32)
        guard case .complete = parse(exact + "\r\nHost: h\r\n\r\n", limits: limits) else {
            return XCTFail("a request line of exactly the limit must be accepted")
        }
        let over = "GET /" + String(repeating: "a", count: 33 - 14) + " HTTP/1.1"
        XCTAssertEqual(parse(over + "\r\nHost: h\r\n\r\n", limits: limits, pieceSize: 1),
                       .failed(HTTPProtocolError(414, "request line too long")),
                       "one byte over the limit must be 414, even when fed byte by byte")
    }

    func testHeaderLineLimitBoundary() {
        var limits = HTTPServerLimits()
        limits.maxHeaderLineLength = 16
        guard case .complete = parse("GET / HTTP/1.1\r\nX: 0123456789abc\r\n\r\n", limits: limits) else {
            return XCTFail("a 16-byte header line must be accepted")
        }
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX: 0123456789abcd\r\n\r\n", limits: limits, pieceSize: 1),
                       .failed(HTTPProtocolError(431, "header line too long")))
    }

    func testParserRejectsControlCharacterInValue() {
        guard case .failed(let error) = parse("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual(error.status, 400)
    }

    func testParserRejectsDoubleSpaceInRequestLine() {
        guard case .failed(let error) = parse("GET  / HTTP/1.1\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual(error.status, 400)
    }

    func testParserRejectsAuthorityFormTarget() {
        guard case .failed(let error) = parse("CONNECT example.com:443 HTTP/1.1\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual(error.status, 400)
    }

    func testKeepAliveDecision() {
        func head(_ version: HTTPVersion, _ connection: String?) -> HTTPRequestHead {
            var headers = HTTPHeaders()
            if let connection { headers.add("Connection", connection) }
            return HTTPRequestHead(method: "GET", target: "/", version: version, headers: headers)
        }
        XCTAssertTrue(head(.http1_1, nil).wantsKeepAlive)
        XCTAssertFalse(head(.http1_1, "Close").wantsKeepAlive)
        XCTAssertFalse(head(.http1_0, nil).wantsKeepAlive)
        XCTAssertTrue(head(.http1_0, "Keep-Alive").wantsKeepAlive)
    }

    func testContentLengthListOfIdenticalValuesIsAccepted() throws {
        let head = HTTPRequestHead(method: "POST", target: "/", version: .http1_1,
                                   headers: ["Host": "h", "Content-Length": "5, 5"])
        XCTAssertEqual(try head.validatedFraming(limits: HTTPServerLimits()), .length(5))
    }

    // MARK: Chunked decoder

    /// Decodes `text` fed `pieceSize` bytes at a time, as a connection would (unconsumed
    /// bytes are offered again with the next piece).
    private func decodeChunked(_ text: String, pieceSize: Int) throws -> (body: String, consumed: Int, done: Bool) {
        var decoder = ChunkedBodyDecoder(limits: HTTPServerLimits())
        let bytes = Array(text.utf8)
        var body: [UInt8] = []
        var start = 0
        var end = 0
        while end < bytes.count && !decoder.isDone {
            end = min(bytes.count, end + min(pieceSize, bytes.count))
            start += try bytes[start..<end].withUnsafeBufferPointer { piece in
                try decoder.decode(piece) { body.append(contentsOf: $0); return nil }
            }
        }
        return (String(decoding: body, as: UTF8.self), start, decoder.isDone)
    }

    func testChunkedDecoderResumesAcrossPieces() throws {
        let text = "4\r\nWiki\r\n5;x=\"y\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT"
        let whole = try decodeChunked(text, pieceSize: .max)
        let byteByByte = try decodeChunked(text, pieceSize: 1)
        XCTAssertEqual(whole.body, "Wikipedia in\r\n\r\nchunks.", "the decoded body, CRLFs inside chunk data kept")
        XCTAssertTrue(whole.done, "the last chunk and trailers end the body")
        XCTAssertEqual(whole.consumed, text.utf8.count - 4, "bytes after the body must stay for the next request")
        XCTAssertEqual(byteByByte.body, whole.body, "feeding one byte at a time must decode the same body")
        XCTAssertEqual(byteByByte.consumed, whole.consumed, "and stop at the same place")
    }
}
