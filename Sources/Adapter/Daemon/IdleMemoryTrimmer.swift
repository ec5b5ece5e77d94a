import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives memory back once the daemon goes quiet after work (and once after start-up).
///
/// What an idle daemon holds is mostly not memory it allocated but clean pages of its own
/// executable: start-up and a burst of requests touch code spread over the whole text,
/// and the kernel maps up to 64 KiB around every fault. So, when a whole `period` passes
/// with the process using under 1% of a core, and it has been busy since the last trim:
/// - `malloc_trim(0)` returns the free memory of every malloc arena (a burst on 64
///   connection threads leaves several arenas with free pages);
/// - `MADV_PAGEOUT` over the read-only file mappings of this process: pages that only
///   this process maps are dropped (they fault back from the file when used); the kernel
///   leaves pages other processes share (libc) alone.
/// This is what Android does to cached apps (process compaction); the cost is a few
/// page faults on the first request after a quiet spell.
public final class IdleMemoryTrimmer: @unchecked Sendable {
    public struct Trim: Sendable, Equatable {
        /// Resident set in KiB before and after.
        public var before: Int
        public var after: Int
    }

    private let period: TimeInterval
    private let log: @Sendable (String, [String: String]) -> Void
    private let cond = NSCondition()
    private var stopped = false
    private var thread: Thread?

    public init(period: TimeInterval = 5, log: @escaping @Sendable (String, [String: String]) -> Void) {
        self.period = period
        self.log = log
    }

    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "memory-trim"
        t.stackSize = 256 * 1024
        thread = t
        t.start()
    }

    public func stop() {
        cond.lock(); stopped = true; cond.broadcast(); cond.unlock()
    }

    private func loop() {
        var busySinceTrim = true
        var last = Self.cpuSeconds()
        cond.lock()
        while !stopped {
            _ = cond.wait(until: Date().addingTimeInterval(period))
            if stopped { break }
            cond.unlock()
            let now = Self.cpuSeconds()
            let quiet = now - last < period * 0.01
            if !quiet {
                busySinceTrim = true
            } else if busySinceTrim {
                let t = Self.trim()
                busySinceTrim = false
                log("memory_trimmed", ["rss_before_kib": String(t.before), "rss_after_kib": String(t.after)])
            }
            // After the trim, so its own CPU does not count as work.
            last = Self.cpuSeconds()
            cond.lock()
        }
        cond.unlock()
    }

    /// Trims now (see the type's comment).
    @discardableResult
    public static func trim() -> Trim {
        let before = residentKiB()
        _ = glibcMallocTrim(0)
        for range in readOnlyFileMappings() {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: range.lowerBound), range.upperBound - range.lowerBound, MADV_PAGEOUT)
        }
        return Trim(before: before, after: residentKiB())
    }

    /// This process's CPU time (every thread), seconds.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// VmRSS of this process, KiB (0 when /proc cannot be read).
    public static func residentKiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0
    }

    /// Address ranges of this process's file mappings that are not writable (text, read-only
    /// data), from /proc/self/maps. Writable private mappings hold copied-on-write data:
    /// paging those out would mean swap, so they are left alone.
    static func readOnlyFileMappings() -> [Range<Int>] {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return [] }
        return maps.split(separator: "\n").compactMap { line in
            // start-end perms offset dev inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1].count == 4, fields[1].dropFirst().first != "w" else { return nil }
            // Files only: not [heap] or [vdso], nor memfd or /dev mappings (shared memory would go to swap).
            let path = fields[5].drop(while: { $0 == " " })
            guard path.hasPrefix("/"), !path.hasPrefix("/memfd:"), !path.hasPrefix("/dev/"),
                  !path.hasSuffix("(deleted)") else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let lo = Int(bounds[0], radix: 16), let hi = Int(bounds[1], radix: 16), lo < hi else { return nil }
            return lo..<hi
        }
    }
}

/// glibc's `malloc_trim` (malloc.h is not part of the Glibc module).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
