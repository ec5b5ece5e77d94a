// Streamed responses: chunked framing, backpressure, the end of a stream (producer done,
// client gone, server shutdown).
import Foundation
import Glibc
import Synchronization
import XCTest

@testable import HTTP

final class HTTPServerStreamingTests: HTTPTestCase {
    /// A handler streaming `pieces` as given.
    static func pieces(_ pieces: [String]) -> HTTPServer.Handler {
        { _ in .streaming(200, headers: ["Content-Type": "text/plain; charset=utf-8"]) { w in
            for p in pieces { w.write(p) }
        } }
    }

    func testStreamedBodyArrivesWholeThroughAChunkedDecoder() throws {
        let server = try startServer(handler: Self.pieces(["a", "bb", "", "ccc"]))
        let r = try HTTPClient(keepAlive: false).get(url(server, "/s"), timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "abbccc", "every piece, in order; an empty piece must not end the body early")
    }

    func testStreamFramingOnTheWireFollowsTheHTTPVersion() throws {
        // (request version, head field expected, body bytes expected, connection closes)
        let cases: [(String, String, String, Bool)] = [
            ("HTTP/1.1", "Transfer-Encoding: chunked", "1\r\na\r\n2\r\nbb\r\n0\r\n\r\n", false),
            ("HTTP/1.0", "Connection: close", "abb", true),
        ]
        for (version, field, body, closes) in cases {
            let server = try startServer(handler: Self.pieces(["a", "bb"]))
            let client = try RawClient(port: server.port)
            client.send("GET /s \(version)\r\nHost: x\r\n\r\n")
            let head = try XCTUnwrap(client.readResponse(), "\(version): no response head")
            XCTAssertNil(head.headers["Content-Length"], "\(version): a streamed response has no Content-Length")
            let (name, value) = (String(field.split(separator: ":")[0]), field.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
            XCTAssertEqual(head.headers[name]?.lowercased(), value, "\(version): expected \(field)")
            if closes {
                XCTAssertTrue(client.waitForClose(), "\(version): the close must end the body")
                XCTAssertEqual(client.leftover, body, "\(version): the body as written")
            } else {
                XCTAssertTrue(client.readUntil(suffix: "0\r\n\r\n"), "\(version): the last chunk must end the body")
                XCTAssertEqual(client.leftover, body, "\(version): one chunk per piece, then the last chunk")
            }
        }
    }

    func testConnectionServesTheNextRequestAfterAStream() throws {
        let server = try startServer(handler: { r in
            r.path == "/s" ? .streaming(200) { $0.write("streamed") } : .text(200, "plain")
        })
        let client = try RawClient(port: server.port)
        client.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNotNil(client.readResponse())
        XCTAssertTrue(client.readUntil(suffix: "0\r\n\r\n"), "the stream must end")
        client.send("GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(client.readUntil(suffix: "plain"), "a cleanly ended stream leaves the connection usable: \(client.leftover)")
    }

    func testHeadRequestRunsNoProducer() throws {
        let ran = Atomic<Int>(0)
        let server = try startServer(handler: { _ in .streaming(200) { w in ran.add(1, ordering: .relaxed); w.write("x") } })
        let (_, response) = try rawExchange(server, "HEAD /s HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(ran.load(ordering: .relaxed), 0, "a HEAD response has no body to produce")
    }

    func testNormalResponsesKeepContentLength() throws {
        let server = try startServer()
        let (_, response) = try rawExchange(server, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNotNil(response?.headers["Content-Length"], "only streamed responses are chunked")
        XCTAssertNil(response?.headers["Transfer-Encoding"])
    }

    func testAClientThatDoesNotReadHoldsTheProducerBack() throws {
        var limits = Self.testLimits
        limits.writeTimeout = 1
        let written = Atomic<Int>(-1)
        let wanted = 256 << 20
        let server = try startServer(limits: limits, handler: { _ in .streaming(200) { w in
            let piece = [UInt8](repeating: 0x61, count: 64 * 1024)
            while w.bytesWritten < wanted, w.write(piece) {}
            written.store(w.bytesWritten, ordering: .relaxed)
        } })
        let client = try RawClient(port: server.port)
        var small: Int32 = 16 * 1024
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        client.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        // Never read: the producer's write must block, then fail after writeTimeout.
        XCTAssertTrue(waitUntil(timeout: 10) { written.load(ordering: .relaxed) >= 0 }, "the producer never gave up")
        let n = written.load(ordering: .relaxed)
        XCTAssertLessThan(n, 8 << 20, "a stalled client let the producer write \(n) bytes: no backpressure")
        XCTAssertLessThan(n, wanted, "the producer must have been stopped")
        withExtendedLifetime(client) {}
    }

    func testClientHangupEndsAWaitingProducer() throws {
        let ended = Atomic<Bool>(false)
        let started = Atomic<Bool>(false)
        let server = try startServer(handler: { _ in .streaming(200) { w in
            started.store(true, ordering: .relaxed)
            while w.wait(0.05) {}
            ended.store(true, ordering: .relaxed)
        } })
        var client: RawClient? = try RawClient(port: server.port)
        client?.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(waitUntil { started.load(ordering: .relaxed) })
        client = nil
        XCTAssertTrue(waitUntil { ended.load(ordering: .relaxed) }, "wait() must return false once the client hung up")
        XCTAssertTrue(waitUntil { server.openConnections == 0 }, "the connection must be released")
    }

    func testShutdownEndsAFollowingStreamCleanlyWithinTheGrace() throws {
        var limits = Self.testLimits
        limits.shutdownGrace = 5
        let server = HTTPServer(host: "127.0.0.1", port: 0, limits: limits, handler: { _ in .streaming(200) { w in
            while w.wait(0.05) { w.write("tick\n") }
            w.write("bye\n")
        } })
        try server.start()
        let client = try RawClient(port: server.port)
        client.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNotNil(client.readResponse())
        XCTAssertTrue(client.readUntil(suffix: "tick\n\r\n"), "the stream must be under way")
        let began = Date()
        server.shutdown()
        XCTAssertLessThan(Date().timeIntervalSince(began), limits.shutdownGrace,
                          "shutdown waited for the whole grace: the producer was not told to end")
        XCTAssertTrue(client.readUntil(suffix: "bye\n\r\n0\r\n\r\n"), "the body must end cleanly: \(client.leftover.suffix(80))")
    }
}
