import Foundation

/// Timing helpers: spawn-and-wait with posix_spawn, medians, table printing.
enum Bench {
    static func sibling(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func which(_ name: String) -> String? {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
            return dir + "/" + name
        }
        return nil
    }

    /// Runs argv to completion with stdio on /dev/null; returns the exit status.
    @discardableResult
    static func spawnWait(_ argv: [String]) -> Int32 { spawnWaitCPU(argv).status }

    /// Spawns and reaps `argv`: its wait status and the CPU time (user + system) of it and of
    /// every descendant it reaped (wait4's rusage).
    static func spawnWaitCPU(_ argv: [String]) -> (status: Int32, cpu: Double) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in [Int32(0), 1, 2] {
            _ = "/dev/null".withCString { posix_spawn_file_actions_addopen(&actions, fd, $0, fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { for p in env { free(p) } }
        guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, env) == 0 else { return (-1, 0) }
        var st: Int32 = 0
        var ru = rusage()
        while wait4(pid, &st, 0, &ru) < 0 && errno == EINTR {}
        let cpu = Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
        return (st, cpu)
    }

    /// Seconds taken by `body`.
    static func time(_ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        body()
        return (ContinuousClock.now - start).seconds
    }

    /// CPU seconds the calling thread spent in `body` (waits for the disk excluded).
    static func cpuTime(_ body: () -> Void) -> Double {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
        body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
        return Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }

    static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return left ? fill + s : s + fill
    }

    static func ms(_ s: Double) -> String { String(format: "%8.2f ms", s * 1000) }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
