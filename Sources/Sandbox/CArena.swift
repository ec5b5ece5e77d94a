import Foundation
import CSandbox

/// Owns every C allocation a launch plan points into, so the plan stays valid
/// across the clone (the child gets a copy of this memory) and is freed after.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []      // malloc'd (strdup): free()
    private var allocated: [UnsafeMutableRawPointer] = []   // Swift-allocated: deallocate()

    func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func optionalString(_ s: String?) -> UnsafePointer<CChar>? {
        s.map { string($0) }
    }

    /// A NULL-terminated array of C strings.
    func stringArray(_ items: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let arr = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, s) in items.enumerated() { arr[i] = UnsafeMutablePointer(mutating: string(s)) }
        arr[items.count] = nil
        allocated.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    func constStringArray(_ items: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let arr = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, s) in items.enumerated() { arr[i] = string(s) }
        arr[items.count] = nil
        allocated.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    func ints(_ values: [Int32]) -> UnsafeMutablePointer<Int32> {
        let arr = UnsafeMutablePointer<Int32>.allocate(capacity: max(values.count, 1))
        for (i, v) in values.enumerated() { arr[i] = v }
        allocated.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    func bytes(_ data: [UInt8]) -> UnsafeRawPointer? {
        guard !data.isEmpty else { return nil }
        let p = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 8)
        data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        allocated.append(p)
        return UnsafeRawPointer(p)
    }

    func mounts(_ entries: [MountEntry]) -> UnsafeMutablePointer<cs_mount> {
        let arr = UnsafeMutablePointer<cs_mount>.allocate(capacity: max(entries.count, 1))
        allocated.append(UnsafeMutableRawPointer(arr))
        for (i, e) in entries.enumerated() {
            var m = cs_mount()
            m.dest = string(e.destination)
            m.optional = e.optional ? 1 : 0
            switch e.kind {
            case .bindReadOnly(let src): m.kind = Int32(CS_MOUNT_BIND_RO.rawValue); m.source = string(src)
            case .bindWritable(let src): m.kind = Int32(CS_MOUNT_BIND_RW.rawValue); m.source = string(src)
            case .tmpfs(let opts): m.kind = Int32(CS_MOUNT_TMPFS.rawValue); m.data = string(opts)
            case .proc: m.kind = Int32(CS_MOUNT_PROC.rawValue)
            case .dev: m.kind = Int32(CS_MOUNT_DEV.rawValue)
            case .preparedDev(let src): m.kind = Int32(CS_MOUNT_DEV.rawValue); m.source = string(src)
            case .directory(let mode): m.kind = Int32(CS_MOUNT_DIR.rawValue); m.mode = mode
            case .symlink(let target): m.kind = Int32(CS_MOUNT_SYMLINK.rawValue); m.source = string(target)
            case .file(let contents, let mode): m.kind = Int32(CS_MOUNT_FILE.rawValue); m.data = string(contents); m.mode = mode
            }
            arr[i] = m
        }
        return arr
    }

    deinit {
        for b in blocks { free(b) }
        for a in allocated { a.deallocate() }
    }
}
