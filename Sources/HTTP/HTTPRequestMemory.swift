import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The memory all requests in progress may hold at once (`requestMemoryBudget`): body
/// bytes are reserved before they are read and released once the handler is done with the
/// request, so a client holds only what it actually sent; each request also holds a fixed
/// allowance for its connection until it is answered.
final class RequestMemoryBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var inUse: Int { used.load(ordering: .relaxed) }

    /// Reserves up to `wanted` bytes; returns how many (0 when the budget is spent).
    func reserve(upTo wanted: Int) -> Int {
        var current = used.load(ordering: .relaxed)
        while true {
            let granted = min(wanted, limit - current)
            guard granted > 0 else { return 0 }
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + granted, ordering: .relaxed)
            if exchanged { return granted }
            current = original
        }
    }

    /// Reserves exactly `bytes`, or nothing.
    func reserve(exactly bytes: Int) -> Bool {
        let granted = reserve(upTo: bytes)
        if granted == bytes { return true }
        release(granted)
        return false
    }

    /// Whether `bytes` more would fit right now.
    func fits(_ bytes: Int) -> Bool { limit - used.load(ordering: .relaxed) >= bytes }

    func release(_ bytes: Int) {
        if bytes > 0 { used.subtract(bytes, ordering: .relaxed) }
    }
}

/// The memory of one request body, filled as bytes arrive and handed to the handler as
/// `Data` without a copy. Large bodies get an anonymous mapping of their full capacity:
/// only the pages written to become resident, and freeing returns them to the kernel at
/// once (glibc keeps large freed chunks in its heap once it has raised its mmap threshold,
/// which would make resident memory outlast the budget's accounting).
final class BodyStorage {
    private let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0
    private let mapped: Bool
    private var handedOut = false

    static let mapThreshold = 256 * 1024

    /// Nil when the memory cannot be had.
    init?(capacity: Int) {
        let size = max(capacity, 1)
        if size >= Self.mapThreshold {
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            guard let p, p != MAP_FAILED else { return nil }
            base = p
            mapped = true
        } else {
            guard let p = malloc(size) else { return nil }
            base = p
            mapped = false
        }
        self.capacity = capacity
    }

    deinit {
        if !handedOut { Self.free(base, capacity: capacity, mapped: mapped) }
    }

    private static func free(_ p: UnsafeMutableRawPointer, capacity: Int, mapped: Bool) {
        if mapped { munmap(p, max(capacity, 1)) } else { Glibc.free(p) }
    }

    /// The bytes from `offset` to the end of what was received.
    func bytes(from offset: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count - offset)
    }

    /// Appends `bytes` (the caller keeps within `capacity`).
    func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= capacity - count, "request body past its capacity")
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// One non-blocking `recv` of at most `max` bytes straight into the storage.
    func receive(_ fd: Int32, max: Int) -> HTTPSocket.ReadResult {
        let size = Swift.min(max, capacity - count)
        while true {
            let n = recv(fd, base + count, size, Int32(MSG_DONTWAIT))
            if n > 0 {
                count += n
                return .data(n)
            }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    /// The body as `Data`, which from now on owns the memory.
    func takeData() -> Data {
        guard count > 0 else { return Data() }
        handedOut = true
        let capacity = self.capacity, mapped = self.mapped
        return Data(bytesNoCopy: base, count: count, deallocator: .custom { p, _ in
            BodyStorage.free(p, capacity: capacity, mapped: mapped)
        })
    }
}
