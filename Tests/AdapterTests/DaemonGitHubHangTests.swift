import XCTest
import Foundation
@testable import AdapterTesting
#if canImport(Glibc)
import Glibc
#endif

/// A GitHub that accepts connections and never answers, in front of a real child daemon:
/// waiting on it must cost no CPU, and SIGTERM must still end the daemon within its grace.
final class DaemonGitHubHangTests: XCTestCase {
    static let grace: TimeInterval = 2

    /// A daemon with a task whose GitHub calls (the publication's token, the attempt's git
    /// token) hang unanswered.
    private func daemonWaitingOnGitHub() throws -> (DaemonFaultTests.World, SilentServer) {
        let silent = try SilentServer()
        addTeardownBlock { silent.shutdown() }
        let w = try DaemonFaultTests.World(mode: "ok", shutdownGrace: "\(Int(Self.grace))s", apiBaseURL: silent.url)
        try w.startDaemon()
        _ = try w.deliverAssigned()
        XCTAssertTrue(eventually(timeout: 30) { silent.accepted >= 2 },
                      "the daemon never called GitHub (\(silent.accepted) connections):\n\(w.logs)")
        return (w, silent)
    }

    /// User plus system CPU time of a process, in seconds.
    private func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces): state is the 3rd field, utime the 14th.
        let fields = stat[stat.index(after: try XCTUnwrap(stat.lastIndex(of: ")")))...].split(separator: " ")
        let ticks = try XCTUnwrap(Double(fields[11])) + XCTUnwrap(Double(fields[12]))
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func testAnUnansweredGitHubCallCostsNoCPU() throws {
        let (w, _) = try daemonWaitingOnGitHub()
        let pid = try XCTUnwrap(w.daemon?.processIdentifier)
        let window: TimeInterval = 3
        let before = try cpuSeconds(pid)
        Thread.sleep(forTimeInterval: window)   // the measurement window itself, not a wait for an event
        let used = try cpuSeconds(pid) - before
        // URLSession spun at ~80% of a core here (2.4 s of the 3 s).
        XCTAssertLessThan(used, 0.3, "the daemon used \(used) s of CPU in \(window) s while GitHub did not answer:\n\(w.logs)")
    }

    func testSIGTERMWhileAGitHubCallHangsExitsWithinTheGrace() throws {
        let (w, _) = try daemonWaitingOnGitHub()
        let sent = Date()
        w.signal(SIGTERM)
        let margin: TimeInterval = 3
        XCTAssertTrue(w.waitForExit(timeout: 60), "SIGTERM did not stop the daemon:\n\(w.logs)")
        let took = Date().timeIntervalSince(sent)
        XCTAssertLessThan(took, Self.grace + margin,
                          "the stop took \(took) s, past the \(Self.grace) s grace plus \(margin) s:\n\(w.logs)")
        XCTAssertEqual(w.daemon?.terminationStatus, 0, "a SIGTERM stop exits 0:\n\(w.logs)")
    }
}
