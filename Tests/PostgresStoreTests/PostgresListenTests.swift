import PostgresStore
import StoreTesting
import Supervisor
import XCTest

/// LISTEN on one connection hears NOTIFY from another; waiting sleeps, not spins.
final class PostgresListenTests: XCTestCase {
    func testNotificationArrivesOnOtherConnection() throws {
        let (listener, conninfo) = try freshConnection()
        let sender = try PostgresConnection(conninfo: conninfo)
        try listener.listen(["tasks", "Mixed.Case"])
        try sender.notify("Mixed.Case", "payload 1")
        let got = try listener.waitForNotifications(timeout: .seconds(10))
        XCTAssertEqual(got.map(\.channel), ["Mixed.Case"], "the notification did not arrive on its channel")
        XCTAssertEqual(got.map(\.payload), ["payload 1"], "the payload changed on the way")
    }

    func testNotifyInsideTransactionArrivesOnlyAfterCommit() throws {
        let (listener, conninfo) = try freshConnection()
        let sender = try PostgresConnection(conninfo: conninfo)
        try listener.listen(["tasks"])
        try sender.transaction {
            try sender.notify("tasks", "later")
            XCTAssertEqual(try listener.waitForNotifications(timeout: .milliseconds(50)).count, 0,
                           "a notification arrived before its transaction committed")
        }
        XCTAssertEqual(try listener.waitForNotifications(timeout: .seconds(10)).map(\.payload), ["later"],
                       "the committed notification did not arrive")
    }

    func testWaitReturnsEmptyAfterTimeoutWithoutSpinning() throws {
        let (listener, _) = try freshConnection()
        try listener.listen(["quiet"])
        let timeout = Duration.milliseconds(300)
        let cpuBefore = clock()
        let began = ContinuousClock.now
        let got = try listener.waitForNotifications(timeout: timeout)
        let waited = ContinuousClock.now - began
        let cpu = Double(clock() - cpuBefore) / Double(CLOCKS_PER_SEC)
        XCTAssertTrue(got.isEmpty, "notifications arrived on a channel nobody notified: \(got)")
        XCTAssertGreaterThanOrEqual(waited, timeout, "the wait returned before its timeout (\(waited))")
        // A spinning wait burns the whole 300 ms of CPU; a sleeping one next to none.
        XCTAssertLessThan(cpu, 0.1, "the wait used \(cpu) s of CPU in \(waited): it spins")
    }
}
