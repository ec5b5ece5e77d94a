import Foundation
import Synchronization

/// Which stream of an attempt's output.
public enum AttemptStream: String, Sendable, CaseIterable {
    case stdout, stderr
}

/// The output files of the attempts running now, so that their output can be followed
/// while they run (the task API's output stream). An attempt is registered from just
/// before its sandbox starts until its output is complete (the sandbox is gone), and
/// before its files are removed; each entry holds the attempt's redactor, so a follower
/// redacts exactly as the stored tails are.
public final class LiveAttemptOutputs: Sendable {
    struct Key: Hashable { var task: String; var attempt: Int }
    struct Entry {
        var stdout: String
        var stderr: String
        var redactor: Redactor
    }

    private let entries = Mutex<[Key: Entry]>([:])

    public init() {}

    func register(taskID: String, attempt: Int, stdout: String, stderr: String, redactor: Redactor) {
        entries.withLock { $0[Key(task: taskID, attempt: attempt)] = Entry(stdout: stdout, stderr: stderr, redactor: redactor) }
    }

    /// From here on the attempt's output is complete: what a follower reads of an open
    /// file is all there will be.
    func unregister(taskID: String, attempt: Int) {
        _ = entries.withLock { $0.removeValue(forKey: Key(task: taskID, attempt: attempt)) }
    }

    /// Whether the attempt is still writing its output.
    public func isLive(taskID: String, attempt: Int) -> Bool {
        entries.withLock { $0[Key(task: taskID, attempt: attempt)] != nil }
    }

    /// Opens the stream's file of a running attempt for reading from its start; nil when
    /// the attempt is not running or its sandbox has not created the file yet. Opened under
    /// the lock, so never after the attempt was unregistered (and its files removed).
    public func open(taskID: String, attempt: Int, stream: AttemptStream) -> LiveOutputFile? {
        entries.withLock { map -> LiveOutputFile? in
            guard let e = map[Key(task: taskID, attempt: attempt)] else { return nil }
            let fd = Glibc.open(stream == .stdout ? e.stdout : e.stderr, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            return LiveOutputFile(fd: fd, redactor: e.redactor)
        }
    }
}

/// One open output file of a running attempt, and the redactor its output goes through.
/// The descriptor stays readable after the attempt's files are removed. Used by one
/// follower at a time.
public final class LiveOutputFile: @unchecked Sendable {
    public let redactor: Redactor
    private let fd: Int32

    init(fd: Int32, redactor: Redactor) {
        self.fd = fd
        self.redactor = redactor
    }

    deinit { close(fd) }

    /// Reads at most `buffer.count` bytes from where the last read ended; 0 at the end of
    /// what was written so far.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            return max(0, n)
        }
    }
}
