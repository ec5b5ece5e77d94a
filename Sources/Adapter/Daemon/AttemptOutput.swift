import Foundation
import HTTP
import Synchronization
import Supervisor

/// `GET …/attempts/{n}/output`: an attempt's output as a streamed `text/plain` body, for
/// the task API and the dashboard (docs/operations.md, "The task API").
///
/// A finished attempt gets what the store kept. A running one gets its capped output file
/// from the start, through a `StreamingRedactor` made with the attempt's own redactor; with
/// `follow`, the stream goes on (a look every `pollInterval`) until the attempt's output is
/// complete, then drains the file and ends. Followers are counted: at most `maxStreams`
/// at once, each holding a `readSize` buffer and at most `StreamingRedactor.maxHold` bytes.
public final class AttemptOutputStreamer: Sendable {
    public static let defaultMaxStreams = 32
    static let readSize = 16 * 1024

    private let store: TaskStore
    private let live: LiveAttemptOutputs
    private let pollInterval: TimeInterval
    private let streams: StreamCounter

    public init(store: TaskStore, live: LiveAttemptOutputs, maxStreams: Int = AttemptOutputStreamer.defaultMaxStreams,
                pollInterval: TimeInterval = 0.2) {
        self.store = store
        self.live = live
        self.streams = StreamCounter(limit: max(1, maxStreams))
        self.pollInterval = pollInterval
    }

    /// Streams open now.
    public var openStreams: Int { streams.current }

    /// The response to `request` for the task and attempt in its path parameters `id` and
    /// `n`. Throws `HTTPError` 400 (bad `stream`, `follow` or attempt number) and 404
    /// (unknown task or attempt).
    func response(to request: HTTPRequest) throws -> HTTPResponse {
        let taskID = request.parameter("id") ?? ""
        guard let text = request.parameter("n"), let number = Int(text), number >= 1, text.allSatisfy(\.isASCII) else {
            throw HTTPError(400, "attempt must be a positive integer")
        }
        let stream: AttemptStream
        switch request.queryValue("stream") {
        case nil, "stdout"?: stream = .stdout
        case "stderr"?: stream = .stderr
        default: throw HTTPError(400, "stream must be stdout or stderr")
        }
        let follow: Bool
        switch request.queryValue("follow") {
        case nil, "0"?: follow = false
        case "1"?: follow = true
        default: throw HTTPError(400, "follow must be 1 or 0")
        }
        guard try store.taskExists(id: taskID) else { throw HTTPError(404, "no task \(taskID)") }
        guard let state = try store.attemptState(taskID: taskID, number: number) else {
            throw HTTPError(404, "task \(taskID) has no attempt \(number)")
        }
        guard let slot = StreamSlot(streams) else {
            return .json(503, ["ok": false, "error": "too many output streams open; retry later"], headers: ["Retry-After": "5"])
        }
        let headers: HTTPHeaders = ["Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
                                    "X-Content-Type-Options": "nosniff", "X-Coven-Attempt-State": state.rawValue]
        return .streaming(200, headers: headers) { [self] writer in
            withExtendedLifetime(slot) {
                produce(writer, taskID: taskID, number: number, stream: stream, follow: follow)
            }
        }
    }

    private func produce(_ writer: HTTPBodyWriter, taskID: String, number: Int, stream: AttemptStream, follow: Bool) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var file: LiveOutputFile?
        var redactor = StreamingRedactor(Redactor())
        while true {
            if file == nil, let f = live.open(taskID: taskID, attempt: number, stream: stream) {
                file = f
                redactor = StreamingRedactor(f.redactor)
            }
            if let f = file {
                let n = f.read(into: buffer)
                if n > 0 {
                    guard writer.write(redactor.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))) else { return }
                    continue
                }
                if !live.isLive(taskID: taskID, attempt: number) {
                    // Complete: what was written between that read and the check, then the end.
                    while case let n = f.read(into: buffer), n > 0 {
                        guard writer.write(redactor.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))) else { return }
                    }
                    writer.write(redactor.finish())
                    return
                }
                // Running and nothing new: without follow, what is held back stays unsent
                // (it may be the start of a secret).
                if !follow { return }
            } else {
                let state = try? store.attemptState(taskID: taskID, number: number)
                if state != .running {
                    // Finished (or interrupted): what the store kept, redacted when stored.
                    if let a = try? store.attempt(taskID: taskID, number: number) {
                        writer.write(stream == .stdout ? a.stdout.data : a.stderr.data)
                    }
                    return
                }
                // Running without a file: its sandbox is starting, or its output just ended
                // and the store is about to record it.
                if !follow { return }
            }
            if !writer.wait(pollInterval) { return }
        }
    }
}

/// Counts open streams against a limit.
final class StreamCounter: Sendable {
    let limit: Int
    private let count = Mutex(0)
    init(limit: Int) { self.limit = limit }
    var current: Int { count.withLock { $0 } }
    func take() -> Bool { count.withLock { if $0 >= limit { return false }; $0 += 1; return true } }
    func give() { count.withLock { $0 -= 1 } }
}

/// One place of a `StreamCounter`, given back when the last reference goes (after the
/// producer ran, or with a response that was never sent, e.g. to a HEAD request).
final class StreamSlot: Sendable {
    private let counter: StreamCounter
    init?(_ counter: StreamCounter) {
        guard counter.take() else { return nil }
        self.counter = counter
    }
    deinit { counter.give() }
}
