import Foundation

/// Receives one output stream of the command and keeps at most its limit: in
/// memory, in a file, or forwarded to a descriptor. Past the limit bytes are only
/// counted, and a marker says where the output was cut.
final class OutputCollector {
    let sink: OutputSink
    private(set) var total: UInt64 = 0
    private(set) var kept = 0
    private(set) var truncated = false
    private(set) var buffer = Data()
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
        case .forward(let fd, _): writeAll(fd, bytes)
        case .file: writeAll(fileFD, bytes)
        }
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
