import Foundation

/// Receives one output stream of the command and keeps at most its limit: in
/// memory, in a file, or forwarded to a descriptor. Past the limit bytes are only
/// counted, and a marker says where the output was cut.
///
/// Forwarding never blocks the monitor: what the descriptor does not take at once waits
/// in `pending` (within the limit), and the monitor writes more only when poll says the
/// descriptor is writable. A consumer that stops reading then holds up nothing: not the
/// deadline, not the teardown.
final class OutputCollector {
    let sink: OutputSink
    private(set) var total: UInt64 = 0
    private(set) var kept = 0
    private(set) var truncated = false
    private(set) var buffer = Data()
    /// Forward mode: bytes accepted but not yet written to the descriptor.
    private(set) var pending = [UInt8]()
    private var pendingStart = 0
    private var fileFD: Int32 = -1
    let limit: Int

    init(sink: OutputSink) throws {
        self.sink = sink
        switch sink {
        case .discard: limit = 0
        case .capture(let l): limit = l
        case .forward(_, let l): limit = l
        case .file(let path, let l):
            limit = l
            fileFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fileFD < 0 {
                throw SandboxError(stage: .output, errno: errno, message: "open output file \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func marker(after bytes: Int) -> Data {
        Data("\n[coven-supervisor: output truncated after \(bytes) bytes]\n".utf8)
    }

    func append(_ chunk: UnsafeRawBufferPointer) {
        total += UInt64(chunk.count)
        let room = max(0, limit - kept)
        let take = min(room, chunk.count)
        if take > 0 {
            let part = UnsafeRawBufferPointer(rebasing: chunk[0..<take])
            emit(part)
            kept += take
        }
        if take < chunk.count && !truncated {
            truncated = true
            if case .discard = sink { return }
            Self.marker(after: limit).withUnsafeBytes { emit($0) }
        }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) {
        switch sink {
        case .discard: break
        case .capture: buffer.append(contentsOf: bytes)
        case .forward: pending.append(contentsOf: bytes)
        case .file: writeAll(fileFD, bytes)
        }
    }

    /// The forward descriptor, while bytes wait for it.
    var waitingFD: Int32? {
        guard case .forward(let fd, _) = sink, pendingStart < pending.count else { return nil }
        return fd
    }

    /// Writes what one write can take without blocking: after poll said POLLOUT, at least
    /// PIPE_BUF bytes fit in a pipe or terminal, and a regular file takes everything.
    func flushSome() {
        guard let fd = waitingFD else { return }
        let chunk = min(pending.count - pendingStart, Int(PIPE_BUF))
        let n = pending.withUnsafeBytes { write(fd, $0.baseAddress! + pendingStart, chunk) }
        if n > 0 { pendingStart += n } else if n < 0 && errno != EINTR && errno != EAGAIN { dropPending() }
        if pendingStart == pending.count { pending.removeAll(keepingCapacity: true); pendingStart = 0 }
    }

    /// After the sandbox is gone: everything left, blocking as long as the reader takes.
    func flushAll() {
        guard let fd = waitingFD else { return }
        pending.withUnsafeBytes { writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
        dropPending()
    }

    private func dropPending() {
        pending.removeAll()
        pendingStart = 0
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        var off = 0
        while off < bytes.count {
            let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    func close() {
        if fileFD >= 0 { Glibc.close(fileFD); fileFD = -1 }
    }
}
