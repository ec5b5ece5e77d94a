import XCTest
import Foundation
@testable import Sandbox

/// Shared helpers for the isolation tests. Every probe is written so that a broken
/// sandbox harms nothing on the host: bounded loops, scratch directories only.
enum SandboxTestSupport {
    static var isRoot: Bool { geteuid() == 0 }

    /// A scratch directory the sandbox identity can traverse (0755).
    static func scratchDirectory(_ name: String = "t") throws -> String {
        let path = NSTemporaryDirectory() + "coven-test-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return path
    }

    static func spec(_ script: String, _ configure: (inout SandboxSpec) -> Void = { _ in }) -> SandboxSpec {
        var s = SandboxSpec(command: ["/bin/sh", "-c", script])
        s.grace = .seconds(2)
        s.timeout = .seconds(60)
        configure(&s)
        return s
    }

    static func run(_ script: String, _ configure: (inout SandboxSpec) -> Void = { _ in }) -> SandboxResult {
        Sandbox.run(spec(script, configure))
    }

    struct ProcessRun { var status: Int32; var out: String; var err: String }

    /// Runs `executable` on the host (not sandboxed) from `/`, collecting its output.
    static func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessRun {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return ProcessRun(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    /// Host pids whose command line contains `marker`.
    static func hostProcesses(containing marker: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var found: [pid_t] = []
        for e in entries {
            guard let pid = pid_t(e) else { continue }
            guard let data = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { continue }
            let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if cmd.contains(marker) { found.append(pid) }
        }
        return found
    }

    /// Host pids running `command` (its /proc comm) with `marker` on their command line: the
    /// sandboxed process itself, not the CLI or init whose command lines carry it too.
    static func hostProcesses(running command: String, containing marker: String) -> [pid_t] {
        hostProcesses(containing: marker).filter {
            (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == command
        }
    }

    /// Polls `condition` until it holds or `timeout` passes.
    static func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

extension SandboxResult {
    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}
