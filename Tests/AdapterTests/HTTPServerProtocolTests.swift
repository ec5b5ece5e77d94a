// Wire-level behaviour of HTTPServer: status codes for malformed and oversized requests,
// framing, keep-alive, pipelining. Raw sockets on 127.0.0.1 so we control every byte.
import Foundation
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPServerProtocolTests: HTTPTestCase {

    // MARK: - Malformed requests → 400 and close

    func testMalformedRequestLineGets400AndClose() throws {
        let server = try startServer()
        let (client, response) = try rawExchange(server, "GARBAGE\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a request line without method/target/version must get 400")
        XCTAssertEqual(response?.closesConnection, true, "a 400 must announce Connection: close")
        XCTAssertTrue(client.waitForClose(), "the server must close the connection after a 400")
    }

    func testBareLineFeedGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\nHost: x\n\n")
        XCTAssertEqual(response?.status, 400, "lines ending in a bare LF must be refused")
    }

    func testWhitespaceBeforeColonGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "whitespace between field name and colon must be refused")
    }

    func testObsoleteLineFoldingGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "obs-fold header continuation must be refused")
    }

    func testMissingHostOnHTTP11Gets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "HTTP/1.1 without Host must get 400")
    }

    func testUnsupportedVersionGets505() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 505, "HTTP/2.0 in a request line must get 505")
    }

    func testMalformedRequestDoesNotDisturbOtherConnections() throws {
        let server = try startServer()
        let good = try RawClient(port: server.port)
        good.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(good.readResponse()?.status, 200)
        _ = try rawExchange(server, "\u{01}\u{02} nonsense\r\n\r\n")
        good.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = good.readResponse()
        XCTAssertEqual(second?.status, 200, "a keep-alive connection must survive another client's garbage")
        XCTAssertEqual(second?.text, "GET /second ")
    }

    // MARK: - Size limits

    func testOversizedRequestLineGets414() throws {
        let server = try startServer()
        let target = "/" + String(repeating: "a", count: 9 * 1024)
        let (_, response) = try rawExchange(server, "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 414, "a request line over 8 KiB must get 414")
    }

    func testEndlessRequestLineGets414BeforeItEnds() throws {
        let server = try startServer()
        // No CRLF at all: the server must not wait for the end of the line.
        let (_, response) = try rawExchange(server, "GET /" + String(repeating: "a", count: 9 * 1024))
        XCTAssertEqual(response?.status, 414, "an unterminated request line past the limit must get 414 at once")
    }

    func testOversizedHeaderLineGets431() throws {
        let server = try startServer()
        let value = String(repeating: "v", count: 9 * 1024)
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(value)\r\n\r\n")
        XCTAssertEqual(response?.status, 431, "a header line over 8 KiB must get 431")
    }

    func testTooManyHeadersGets431() throws {
        let server = try startServer()
        let fields = (0..<101).map { "X-H\($0): v\r\n" }.joined()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
        XCTAssertEqual(response?.status, 431, "more than 100 header fields must get 431")
    }

    func testHundredHeadersAreAccepted() throws {
        let server = try startServer()
        let fields = (0..<99).map { "X-H\($0): v\r\n" }.joined()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
        XCTAssertEqual(response?.status, 200, "exactly 100 header fields (Host + 99) is within the limit")
    }

    func testHeadersTotalTooLargeGets431() throws {
        var limits = Self.testLimits
        limits.maxHeaderBytes = 1024
        let server = try startServer(limits: limits)
        let fields = (0..<10).map { "X-H\($0): \(String(repeating: "v", count: 150))\r\n" }.joined()
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
        XCTAssertEqual(response?.status, 431, "headers totalling more than maxHeaderBytes must get 431")
    }

    func testBodyOverCapGets413WithoutReadingBody() throws {
        var limits = Self.testLimits
        limits.maxBodySize = 1024
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        // Announce a large body but send none: the answer must not wait for it.
        client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.status, 413, "a Content-Length over maxBodySize must get 413 before the body")
        XCTAssertEqual(response?.closesConnection, true, "413 must close the connection")
        XCTAssertTrue(client.waitForClose(), "the server must close after 413")
    }

    func testBodyAtCapIsAccepted() throws {
        var limits = Self.testLimits
        limits.maxBodySize = 1024
        let server = try startServer(limits: limits)
        let body = String(repeating: "b", count: 1024)
        let (_, response) = try rawExchange(
            server, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n\(body)")
        XCTAssertEqual(response?.status, 200, "a body of exactly maxBodySize must be accepted")
        XCTAssertEqual(response?.text, "POST /u \(body)")
    }

    // MARK: - Framing

    func testPostWithoutContentLengthGets411() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "POST /hook HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 411, "POST without Content-Length must get 411")
    }

    func testNonNumericContentLengthGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "Content-Length with non-digits must get 400")
    }

    func testNegativeContentLengthGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a negative Content-Length must get 400")
    }

    func testConflictingContentLengthsGet400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
        XCTAssertEqual(response?.status, 400, "two different Content-Length values must get 400")
    }

    func testOverflowingContentLengthGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a Content-Length too big to represent must get 400")
    }

    func testIdenticalDuplicateContentLengthsAreAccepted() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(response?.status, 200, "repeating the same Content-Length is harmless and accepted")
        XCTAssertEqual(response?.text, "POST /d abc")
    }

    // MARK: - Chunked request bodies

    func testChunkedBodyIsDecodedForTheHandler() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA;name=value\r\n0123456789\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 200, "a chunked body must be accepted")
        XCTAssertEqual(response?.text, "POST /c abc0123456789", "the handler must get the decoded body, extensions dropped")
    }

    func testChunkedBodyKeepsTheConnectionForPipelinedRequests() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "POST /a hi")
        XCTAssertEqual(client.readResponse()?.text, "GET /b ", "the request after a chunked body must be read from where the body ended")
    }

    func testChunkedTrailersAreAcceptedAndDropped() throws {
        let server = try startServer(handler: { request in
            .text(200, request.headers["X-Trailer"] ?? "no trailer in headers")
        })
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Trailer: t\r\n\r\n")
        XCTAssertEqual(response?.status, 200, "trailer fields after the last chunk are allowed")
        XCTAssertEqual(response?.text, "no trailer in headers", "trailers must not be merged into the headers")
    }

    func testChunkedAndContentLengthTogetherGet400AndClose() throws {
        let server = try startServer()
        let (client, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "Transfer-Encoding with Content-Length is a smuggling attempt and must be refused")
        XCTAssertTrue(client.waitForClose(), "the server must close after refusing conflicting framing")
    }

    func testUnknownTransferCodingGets501() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 501, "a transfer coding other than chunked is not implemented")
    }

    func testChunkedNotLastGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a request whose final coding is not chunked has no knowable end")
    }

    func testTransferEncodingOnHTTP10Gets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "HTTP/1.0 has no Transfer-Encoding: the framing is faulty")
    }

    func testChunkedBodyOverCapGets413BeforeTheChunkIsSent() throws {
        var limits = Self.testLimits
        limits.maxBodySize = 1024
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        // The first chunk's size alone passes the cap: the answer must not wait for its data.
        client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n\(String(repeating: "a", count: 256))\r\n400\r\n")
        XCTAssertEqual(client.readResponse()?.status, 413, "a chunk taking the body past maxBodySize must get 413 at its size line")
    }

    func testInvalidChunkSizeGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a chunk size that is not plain hex must be refused")
    }

    func testOverlongChunkSizeGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(String(repeating: "0", count: 15))1\r\na\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "a chunk size of more than 15 hex digits must be refused (no overflow)")
    }

    func testChunkDataWithoutCRLFGets400() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(
            server, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 400, "chunk data longer than its size must be refused")
    }

    func testStalledChunkedBodyGets408() throws {
        var limits = Self.testLimits
        limits.bodyReadTimeout = 0.3
        let server = try startServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
        XCTAssertEqual(client.readResponse()?.status, 408, "a chunked body must arrive within bodyReadTimeout like any other")
    }

    func testExpectContinueGetsInterimResponse() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send("PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 100, "Expect: 100-continue must get 100 before the body")
        client.send("hello")
        XCTAssertEqual(client.readResponse()?.text, "PUT /e hello", "the body sent after 100 must reach the handler")
    }

    func testHeadResponseHasLengthButNoBody() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = client.readResponse(noBody: true)
        XCTAssertEqual(head?.headers["Content-Length"], "8", "HEAD must report the length a GET body would have")
        // Had HEAD carried a body, its bytes would precede the next status line and break it.
        XCTAssertEqual(client.readResponse()?.text, "GET /g ", "no body bytes may follow a HEAD response")
    }

    // MARK: - Connection management

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send(
            "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "POST /one abc", "first pipelined request must be answered first")
        XCTAssertEqual(client.readResponse()?.text, "GET /two ", "second pipelined request must be answered second")
    }

    func testKeepAliveServesSequentialRequestsOnOneConnection() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        for path in ["/a", "/b", "/c"] {
            client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = client.readResponse()
            XCTAssertEqual(response?.text, "GET \(path) ", "request \(path) on the kept-alive connection")
            XCTAssertEqual(response?.closesConnection, false, "HTTP/1.1 must stay open by default")
        }
        XCTAssertEqual(server.acceptedConnections, 1, "all three requests must share one connection")
    }

    func testConnectionCloseIsHonoured() throws {
        let server = try startServer()
        let (client, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.closesConnection, true, "the response must echo Connection: close")
        XCTAssertTrue(client.waitForClose(), "the server must close after a Connection: close request")
    }

    func testHTTP10ClosesByDefault() throws {
        let server = try startServer()
        let (client, response) = try rawExchange(server, "GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(response?.status, 200)
        XCTAssertTrue(client.waitForClose(), "an HTTP/1.0 request without keep-alive must be closed")
    }

    func testHTTP10KeepAliveIsHonoured() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = client.readResponse()
        XCTAssertEqual(first?.headers["Connection"]?.lowercased(), "keep-alive", "HTTP/1.0 keep-alive must be confirmed")
        client.send("GET /2 HTTP/1.0\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "GET /2 ", "the kept-alive HTTP/1.0 connection must serve again")
    }

    func testHandlerConnectionCloseClosesConnection() throws {
        let server = try startServer(handler: { _ in .text(200, "bye", headers: ["Connection": "close"]) })
        let (client, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.closesConnection, true)
        XCTAssertTrue(client.waitForClose(), "a handler's Connection: close must close the connection")
    }

    // MARK: - Handler contract

    func testRequestFieldsReachHandler() throws {
        let seen = LockedBox<HTTPRequest?>(nil)
        let server = try startServer(handler: { request in
            seen.set(request)
            return .text(200, "ok")
        })
        _ = try rawExchange(
            server,
            "PUT /api/a%20b?x=1&y=two+words HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 2\r\n\r\nhi")
        let request = try XCTUnwrap(seen.get(), "handler was not called")
        XCTAssertEqual(request.method, "PUT")
        XCTAssertEqual(request.path, "/api/a%20b")
        XCTAssertEqual(request.decodedPath, "/api/a b")
        XCTAssertEqual(request.query, "x=1&y=two+words")
        XCTAssertEqual(request.queryValue("y"), "two words")
        XCTAssertEqual(request.version, .http1_1)
        XCTAssertEqual(request.headers.values(for: "X-DUP"), ["1", "2"], "duplicates kept, in order, any case")
        XCTAssertEqual(request.body, Data("hi".utf8))
        XCTAssertTrue(request.remoteAddress.hasPrefix("127.0.0.1:"), "remote address was \(request.remoteAddress)")
    }

    func testResponseAlwaysCarriesContentLengthAndDate() throws {
        let server = try startServer(handler: { _ in HTTPResponse(status: 200, body: Data("xyz".utf8)) })
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.headers["Content-Length"], "3")
        XCTAssertNotNil(response?.headers["Date"], "Date must be added")
    }

    func testThrowingHandlerErrorMapsTo500() throws {
        struct Boom: Error {}
        let server = HTTPServer(limits: Self.testLimits, throwingHandler: { _ in throw Boom() })
        try server.start()
        addTeardownBlock { server.shutdown() }
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 500, "an arbitrary thrown error must become 500")
        XCTAssertFalse(response?.text.contains("Boom") ?? true, "error details must not leak to the client")
    }

    func testThrownHTTPErrorKeepsItsStatus() throws {
        let server = HTTPServer(limits: Self.testLimits, throwingHandler: { _ in throw HTTPError(422, "bad payload") })
        try server.start()
        addTeardownBlock { server.shutdown() }
        let (_, response) = try rawExchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 422, "HTTPError must map to its own status")
        XCTAssertEqual(response?.text, "bad payload\n")
    }
}

/// A lock-protected value for handing results from handler threads to the test.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
}
