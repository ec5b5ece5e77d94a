import Foundation

/// Where a `tasks` command writes: stdout and stderr, or buffers in tests.
public struct Console: Sendable {
    public let out: @Sendable (Data) -> Void
    public let err: @Sendable (Data) -> Void

    public init(out: @escaping @Sendable (Data) -> Void, err: @escaping @Sendable (Data) -> Void) {
        self.out = out
        self.err = err
    }

    public static let standard = Console(out: { FileHandle.standardOutput.write($0) },
                                         err: { FileHandle.standardError.write($0) })

    func print(_ text: String) { out(Data((text + "\n").utf8)) }
    func fail(_ text: String) { err(Data((text + "\n").utf8)) }
}
