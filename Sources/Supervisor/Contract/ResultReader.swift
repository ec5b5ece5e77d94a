import Foundation
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// Reads and checks the result file an agent left behind. Everything about the file is
/// untrusted: it may be a symlink to a host file, a fifo that never delivers EOF, a
/// directory, huge, or a lie about its size.
public enum ResultReader {
    /// The largest result accepted: 1 MiB.
    public static let maxBytes = 1 << 20

    /// Reads the result at `path`. The last path component is opened with O_NOFOLLOW
    /// (directories above it must be trusted; use `read(directoryFD:name:)` when they
    /// are not).
    /// `contractVersion` is the one the familiar speaks (1 or 2): a result of the other is refused.
    public static func read(path: String, maxBytes: Int = maxBytes, contractVersion: Int = 1) -> Result<ResultEnvelope, ContractViolation> {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        return finish(fd: fd, errno: errno, maxBytes: maxBytes, version: contractVersion)
    }

    /// Reads the result `name` (a single path component) in the open directory
    /// `directoryFD`, without following a symlink at `name`.
    public static func read(directoryFD: Int32, name: String, maxBytes: Int = maxBytes,
                            contractVersion: Int = 1) -> Result<ResultEnvelope, ContractViolation> {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            return .failure(ContractViolation(.unreadable, "result name must be a single path component"))
        }
        let fd = openat(directoryFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        return finish(fd: fd, errno: errno, maxBytes: maxBytes, version: contractVersion)
    }

    private static func finish(fd: Int32, errno openErrno: Int32, maxBytes: Int, version: Int) -> Result<ResultEnvelope, ContractViolation> {
        guard fd >= 0 else {
            switch openErrno {
            case ENOENT, ENOTDIR: return .failure(ContractViolation(.noResultFile, "no result file"))
            case ELOOP, EMLINK: return .failure(ContractViolation(.resultIsSymlink, "result is a symlink"))
            default: return .failure(ContractViolation(.unreadable, "result could not be opened: \(String(cString: strerror(openErrno)))"))
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            return .failure(ContractViolation(.unreadable, "fstat failed: \(String(cString: strerror(errno)))"))
        }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG else {
            let what: String
            switch type {
            case S_IFIFO: what = "a fifo"
            case S_IFDIR: what = "a directory"
            case S_IFSOCK: what = "a socket"
            case S_IFCHR, S_IFBLK: what = "a device"
            default: what = "not a regular file"
            }
            return .failure(ContractViolation(.notRegularFile, "result is \(what), not a regular file"))
        }
        // Read at most maxBytes + 1: st_size can change under us, so only what read()
        // returns counts.
        let limit = maxBytes + 1
        var buf = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = buf.withUnsafeMutableBytes { p in Glibc.read(fd, p.baseAddress! + total, limit - total) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ContractViolation(.unreadable, "read failed: \(String(cString: strerror(errno)))"))
            }
            if n == 0 { break }
            total += n
        }
        if total > maxBytes {
            return .failure(ContractViolation(.resultTooLarge, "result is larger than \(maxBytes) bytes"))
        }
        return parse(Data(buf[0..<total]), contractVersion: version)
    }

    /// Checks result bytes: JSON, contract version, the schema of `contractVersion` (the
    /// familiar's: 1 or 2), then decoding. v1 may leave `contract_version` out; v2 must
    /// say "2" (its schema requires it).
    public static func parse(_ data: Data, contractVersion: Int = 1) -> Result<ResultEnvelope, ContractViolation> {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            return .failure(ContractViolation(.malformedJSON, "result is not valid JSON (\(error))"))
        }
        let expected = String(contractVersion)
        if case .object(let obj) = value, let v = obj["contract_version"] {
            guard case .string(let s) = v, s == expected else {
                let shown: String
                if case .string(let s) = v, s.count <= 16 { shown = JSONText.quoted(s) } else { shown = "a \(v.typeName)" }
                return .failure(ContractViolation(.unsupportedContractVersion,
                    "unsupported contract_version \(shown) (this familiar speaks \"\(expected)\")"))
            }
        }
        let errors = ContractSchemas.resultValidator(version: contractVersion).validate(value: value)
        if !errors.isEmpty {
            return .failure(ContractViolation(.schemaViolation, "result does not match the v\(expected) result schema",
                                              details: errors))
        }
        do {
            return .success(try JSONDecoder().decode(ResultEnvelope.self, from: data))
        } catch {
            return .failure(ContractViolation(.schemaViolation, "result could not be decoded: \(error)"))
        }
    }
}
