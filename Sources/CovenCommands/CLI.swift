import Foundation
import Sandbox

/// Small helpers shared by the subcommands: messages and the usage error.
public enum CLI {
    public struct UsageError: Error { public let message: String; public init(_ m: String) { message = m } }

    public static func fail(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Reports what stopped a subcommand, the same way for all of them: a usage error with a
    /// pointer to `--help`, anything else as it is. Returns `status`.
    public static func failure(_ command: String, _ error: Error, status: Int32) -> Int32 {
        if let e = error as? UsageError {
            fail("\(command): \(e.message)\nRun 'coven-supervisor \(command) --help' for usage.")
        } else {
            fail("\(command): \(error)")
        }
        return status
    }

    public static func warn(_ message: String) {
        FileHandle.standardError.write(Data(("coven-supervisor: warning: " + message + "\n").utf8))
    }
}

extension CLI {
    /// A file next to the running executable (the binaries are installed side by side).
    public static func sibling(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
