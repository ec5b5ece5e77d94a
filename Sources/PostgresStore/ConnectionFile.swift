import Foundation

/// Why a connection-string file was refused. Names the file, never what is in it.
package enum ConnectionFileError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case unreadable(path: String, errno: Int32)
    case notRegularFile(path: String)
    case exposed(path: String, mode: UInt32)
    case wrongOwner(path: String, owner: UInt32, expected: UInt32)
    case empty(path: String)
    case tooLarge(path: String, limit: Int)

    package var description: String {
        switch self {
        case .missing(let path):
            return "connection file \(path) does not exist"
        case .unreadable(let path, let code):
            return "connection file \(path) cannot be read: \(String(cString: strerror(code)))"
        case .notRegularFile(let path):
            return "connection file \(path) is not a regular file"
        case .exposed(let path, let mode):
            return "connection file \(path) has mode \(String(mode, radix: 8)): group and others must have no access (chmod 600)"
        case .wrongOwner(let path, let owner, let expected):
            return "connection file \(path) belongs to uid \(owner), not to this process's uid \(expected)"
        case .empty(let path):
            return "connection file \(path) is empty"
        case .tooLarge(let path, let limit):
            return "connection file \(path) is larger than \(limit) bytes"
        }
    }
}

extension PostgresConnection {
    /// The connection string kept in `file`, which holds a password: refused unless it
    /// is a regular file of ours that no one else can read or change.
    package static func readConnectionString(file: String) throws(ConnectionFileError) -> String {
        let limit = 64 * 1024
        // Open first, then check the opened file: no swapping it between check and read.
        // O_NONBLOCK: a FIFO put there must not hang us (it is refused below).
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw code == ENOENT ? .missing(path: file) : .unreadable(path: file, errno: code)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .unreadable(path: file, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(path: file) }
        guard st.st_mode & 0o077 == 0 else { throw .exposed(path: file, mode: UInt32(st.st_mode & 0o7777)) }
        guard st.st_uid == getuid() else { throw .wrongOwner(path: file, owner: st.st_uid, expected: getuid()) }
        guard st.st_size <= limit else { throw .tooLarge(path: file, limit: limit) }

        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 { if errno == EINTR { continue }; throw .unreadable(path: file, errno: errno) }
            if n == 0 { break }
            count += n
        }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        let trimmed = String(text.reversed().drop(while: { $0.isWhitespace }).reversed())
        guard !trimmed.isEmpty else { throw .empty(path: file) }
        return trimmed
    }
}
