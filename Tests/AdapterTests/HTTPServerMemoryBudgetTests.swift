// The body memory budget shared by all connections, and head handlers that decide before
// a body is read. Raw sockets on 127.0.0.1.
import Foundation
import Synchronization
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPServerMemoryBudgetTests: HTTPTestCase {
    /// A 256 KiB budget, bodies up to 128 KiB.
    var budgetLimits: HTTPServerLimits {
        var limits = Self.testLimits
        limits.maxBodySize = 128 * 1024
        limits.requestMemoryBudget = 256 * 1024
        return limits
    }

    /// What a request in progress holds besides its body.
    let allowance = HTTPServer.requestAllowance

    /// Sends a head announcing `length` bytes and `sent` of them, then stalls.
    func stalledUpload(_ server: HTTPServer, length: Int, sent: Int) throws -> RawClient {
        let client = try RawClient(port: server.port)
        client.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n")
        client.send([UInt8](repeating: 0x61, count: sent))
        return client
    }

    func testBodyPastTheBudgetGets503WithRetryAfter() throws {
        let server = try startServer(limits: budgetLimits)
        let holder = try stalledUpload(server, length: 130_000, sent: 120_000)
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 120_000 + allowance },
                      "the stalled upload's bytes (and its allowance) are not held")
        let (_, response) = try rawExchange(server, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 80000\r\n\r\n" + String(repeating: "b", count: 80_000))
        XCTAssertEqual(response?.status, 503, "a body that does not fit the budget next to the held one must get 503")
        XCTAssertEqual(response?.headers["Retry-After"], "1", "the 503 says when to retry")
        XCTAssertEqual(server.statistics.refusedMemoryBudget, 1, "the refusal is counted")
        withExtendedLifetime(holder) {}
    }

    func testAnnouncedButUnsentBodyHoldsNoBudget() throws {
        var limits = budgetLimits
        limits.requestMemoryBudget = 512 * 1024  // less than the three announced bodies
        let server = try startServer(limits: limits)
        // Heads alone are cheap to send: they must not be able to spend the budget.
        let holders = try (0..<3).map { _ in try stalledUpload(server, length: 130_000, sent: 0) }
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 3 * allowance }, "the three heads are not in")
        let response = try HTTPClient(keepAlive: false).post(url(server, "/b"), body: Data(count: 120_000), timeout: 5)
        XCTAssertEqual(response.status, 200, "only bytes that arrived count against the budget")
        withExtendedLifetime(holders) {}
    }

    func testEveryRequestInProgressHoldsItsAllowance() throws {
        var limits = Self.testLimits
        limits.maxBodySize = 1024
        limits.requestMemoryBudget = 1024 + allowance  // room for one request in progress
        let server = try startServer(limits: limits)
        let first = try RawClient(port: server.port)
        first.send("GET /slow HTTP/1.1\r\n")
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == allowance }, "a head on its way holds the allowance")
        let (_, second) = try rawExchange(server, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(second?.status, 503, "requests in progress count against the budget even without a body")
        withExtendedLifetime(first) {}
    }

    func testBudgetIsReturnedWhenARequestIsDone() throws {
        let server = try startServer(limits: budgetLimits)
        for i in 0..<3 {
            let response = try HTTPClient(keepAlive: false).post(url(server, "/b\(i)"), body: Data(count: 128 * 1024), timeout: 5)
            XCTAssertEqual(response.status, 200, "body \(i) of three that each fill most of the budget in turn")
        }
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 0 }, "nothing stays reserved once the requests are answered")
    }

    func testBudgetIsReturnedWhenAnUploadIsAbandoned() throws {
        let server = try startServer(limits: budgetLimits)
        var holder: RawClient? = try stalledUpload(server, length: 130_000, sent: 120_000)
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 120_000 + allowance })
        holder = nil
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 0 }, "a client that goes away must give its bytes back")
        XCTAssertNil(holder)
    }

    func testChunkedBodyCountsAgainstTheBudget() throws {
        let server = try startServer(limits: budgetLimits)
        let holder = try RawClient(port: server.port)
        holder.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1D4C0\r\n" + String(repeating: "a", count: 120_000))
        XCTAssertTrue(waitUntil { server.statistics.requestMemoryInUse == 120_000 + allowance },
                      "decoded chunk bytes are held against the budget")
        let chunk = String(repeating: "b", count: 80_000)
        let (_, response) = try rawExchange(
            server, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n13880\r\n\(chunk)\r\n0\r\n\r\n")
        XCTAssertEqual(response?.status, 503, "a chunked body past the budget must get 503 like a Content-Length one")
        withExtendedLifetime(holder) {}
    }

    // MARK: - Head handlers

    func testHeadHandlerAnswersBeforeTheBodyIsSent() throws {
        let server = HTTPServer(
            host: "127.0.0.1", port: 0, limits: Self.testLimits,
            headHandler: { _ in .respond(.text(401, "no\n")) }, throwingHandler: { _ in .text(200, "handled\n") })
        try server.start()
        addTeardownBlock { server.shutdown() }
        let client = try RawClient(port: server.port)
        client.send("POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.status, 401, "the head handler's answer must not wait for the announced body")
        XCTAssertEqual(response?.closesConnection, true, "the unread body makes the connection unusable")
    }

    final class CountingObserver: HTTPBodyObserver, @unchecked Sendable {
        var bytes: [UInt8] = []
        func consume(_ piece: UnsafeRawBufferPointer) { bytes.append(contentsOf: piece) }
    }

    func testObserverSeesEveryBodyByteBeforeTheHandler() throws {
        let server = HTTPServer(
            host: "127.0.0.1", port: 0, limits: Self.testLimits,
            headHandler: { _ in .observe(CountingObserver()) },
            throwingHandler: { request in
                let seen = (request.bodyObserver as? CountingObserver)?.bytes ?? []
                return .text(200, Data(seen) == request.body ? "same \(seen.count)" : "different \(seen.count)")
            })
        try server.start()
        addTeardownBlock { server.shutdown() }
        let body = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let response = try HTTPClient(keepAlive: false).post(url(server, "/o"), body: body, timeout: 10)
        XCTAssertEqual(response.text, "same 300000", "the observer must have seen exactly the body the handler gets")
    }
}
