// Listening, the connection cap, shutdown and parallel load.
import Foundation
import Synchronization
import XCTest

@testable import Adapter
@testable import HTTP

final class HTTPServerLifecycleTests: HTTPTestCase {

    func testPortZeroBindsAnEphemeralPort() throws {
        let server = try startServer()
        XCTAssertNotEqual(server.port, 0, "port 0 must be replaced by the bound ephemeral port")
        XCTAssertNoThrow(try RawClient(port: server.port), "the bound port must accept connections")
    }

    func testStartingTwiceFails() throws {
        let server = try startServer()
        XCTAssertThrowsError(try server.start(), "a second start() must fail") { error in
            XCTAssertEqual(error as? HTTPServerError, .alreadyStarted)
        }
    }

    func testBindingABusyPortFails() throws {
        let first = try startServer()
        let second = HTTPServer(host: "127.0.0.1", port: first.port, handler: Self.echo)
        XCTAssertThrowsError(try second.start(), "binding a port already listened on must fail")
    }

    func testConnectionCapAnswers503() throws {
        var limits = Self.testLimits
        limits.maxConnections = 2
        let server = try startServer(limits: limits)
        // Busy (a request on its way), so neither may be closed to make room.
        let first = try RawClient(port: server.port)
        first.send("GET / HTTP/1.1\r\n")
        let second = try RawClient(port: server.port)
        second.send("GET / HTTP/1.1\r\n")
        XCTAssertTrue(waitUntil { server.openConnections == 2 && server.idleConnections == 0 },
                      "the first two connections were not accepted and busy")

        let third = try RawClient(port: server.port)
        let response = third.readResponse()
        XCTAssertEqual(response?.status, 503, "a connection above maxConnections must get 503 at once")
        XCTAssertEqual(response?.closesConnection, true, "the 503 must announce Connection: close")
        XCTAssertTrue(third.waitForClose(), "the refused connection must be closed")
        XCTAssertEqual(server.rejectedConnections, 1)
        withExtendedLifetime((first, second)) {}
    }

    func testRequestSentToRefusedConnectionStillGets503() throws {
        var limits = Self.testLimits
        limits.maxConnections = 1
        let server = try startServer(limits: limits)
        let holder = try RawClient(port: server.port)
        holder.send("GET / HTTP/1.1\r\n")
        XCTAssertTrue(waitUntil { server.openConnections == 1 && server.idleConnections == 0 })
        // The client speaks first, as real clients do: the 503 must still be readable.
        let response = try? HTTPClient(keepAlive: false).post(url(server, "/hook"), body: Data(count: 4096), timeout: 5)
        XCTAssertEqual(response?.status, 503, "a client that sends before reading must still see the 503")
        withExtendedLifetime(holder) {}
    }

    func testCapFreesWhenAConnectionCloses() throws {
        var limits = Self.testLimits
        limits.maxConnections = 1
        let server = try startServer(limits: limits)
        var holder: RawClient? = try RawClient(port: server.port)
        XCTAssertTrue(waitUntil { server.openConnections == 1 })
        holder = nil
        XCTAssertTrue(waitUntil { server.openConnections == 0 }, "closing the client must free its slot")
        let response = try HTTPClient(keepAlive: false).get(url(server, "/"), timeout: 5)
        XCTAssertEqual(response.status, 200, "a freed slot must be usable again")
        XCTAssertNil(holder)
    }

    func testShutdownClosesTheListener() throws {
        let server = try startServer()
        let port = server.port
        server.shutdown()
        XCTAssertThrowsError(try RawClient(port: port), "connecting after shutdown must be refused") { error in
            guard case RawClientError.connect(let code) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(code, ECONNREFUSED)
        }
    }

    func testShutdownClosesIdleKeepAliveConnections() throws {
        let server = try startServer()
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        server.shutdown()
        XCTAssertTrue(client.waitForClose(timeout: 1), "an idle keep-alive connection must be closed by shutdown")
        XCTAssertEqual(server.openConnections, 0, "shutdown must return only once connections are gone")
    }

    func testShutdownLetsAnInFlightRequestFinish() throws {
        let entered = DispatchSemaphore(value: 0)
        let proceed = DispatchSemaphore(value: 0)
        let server = try startServer(handler: { _ in
            entered.signal()
            _ = proceed.wait(timeout: .now() + 5)
            return .text(200, "finished")
        })
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(entered.wait(timeout: .now() + 5), .success, "handler never started")

        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            server.shutdown()
            stopped.signal()
        }
        XCTAssertTrue(waitUntil { server.isStopping }, "shutdown did not begin")
        proceed.signal()

        let response = client.readResponse()
        XCTAssertEqual(response?.text, "finished", "the in-flight request must complete during shutdown")
        XCTAssertEqual(response?.closesConnection, true, "a response sent while stopping must close the connection")
        XCTAssertEqual(stopped.wait(timeout: .now() + 5), .success, "shutdown must return once the request is done")
    }

    func testShutdownCutsAHandlerThatOverrunsTheGrace() throws {
        var limits = Self.testLimits
        limits.shutdownGrace = 0.3
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let server = try startServer(limits: limits, handler: { _ in
            entered.signal()
            _ = release.wait(timeout: .now() + 10)
            return .text(200, "late")
        })
        defer { release.signal() }
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(entered.wait(timeout: .now() + 5), .success)
        let started = Date()
        server.shutdown()
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "shutdown must give up on a stuck handler")
        XCTAssertTrue(client.waitForClose(timeout: 1), "the stuck request's connection must be cut")
    }

    func testFiftyParallelClientsWithKeepAlive() throws {
        let server = try startServer()
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let base = url(server, "")
        for worker in 0..<50 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let client = HTTPClient(keepAlive: true)
                for request in 0..<3 {
                    do {
                        let response = try client.post("\(base)/w\(worker)", body: Data("r\(request)".utf8), timeout: 10)
                        if response.text != "POST /w\(worker) r\(request)" {
                            failures.withLock { $0.append("worker \(worker) request \(request): \(response.status) \(response.text ?? "")") }
                        }
                    } catch {
                        failures.withLock { $0.append("worker \(worker) request \(request): \(error)") }
                    }
                }
                if client.connectionsOpened != 1 {
                    failures.withLock { $0.append("worker \(worker) opened \(client.connectionsOpened) connections") }
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success, "50 clients × 3 requests did not finish in 30 s")
        XCTAssertEqual(failures.withLock { $0 }, [], "every keep-alive request must succeed")
        XCTAssertEqual(server.acceptedConnections, 50, "each client must reuse its connection")
    }
}
