import Foundation

extension Cgroups {
    /// The name of a sandbox's cgroup: `sbx-<host uid>-<creator pid>-<random>`. The creator's
    /// pid lets a later supervisor recognise cgroups left by one that died without cleaning up.
    static func sandboxCgroupName(hostUID: UInt32) -> String {
        "sbx-\(hostUID)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The creator pid in a `sandboxCgroupName`, or nil for any other name.
    static func creatorPID(ofSandboxCgroup name: String) -> pid_t? {
        let parts = name.split(separator: "-")
        guard parts.count == 4, parts[0] == "sbx", UInt32(parts[1]) != nil, UInt32(parts[3]) != nil,
              let pid = pid_t(parts[2]), pid > 0 else { return nil }
        return pid
    }

    /// Removes sandbox cgroups left behind by supervisors that died without cleaning up
    /// (SIGKILL, the OOM killer): `sbx-…` directories under this process's sandbox parents
    /// whose creator process is gone. rmdir only succeeds on a cgroup without processes, so a
    /// running sandbox is never touched. Returns the directories removed.
    @discardableResult
    public static func removeStale() -> [String] {
        let host = CgroupHost.cachedProbe()
        var parents: [String] = []
        switch host.support.version {
        case .v1:
            for dir in host.v1Dirs.values where !parents.contains(dir + "/coven") { parents.append(dir + "/coven") }
        case .v2:
            if let parent = host.v2Parent { parents.append(parent) }
        case .none:
            return []
        }
        var removed: [String] = []
        for parent in parents {
            for name in DirectoryEntries.names(parent) ?? [] {
                guard let pid = creatorPID(ofSandboxCgroup: name), !isAlive(pid) else { continue }
                let dir = parent + "/" + name
                if CgroupFS.removeTree(dir, timeout: 0) { removed.append(dir) }
            }
        }
        return removed
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
