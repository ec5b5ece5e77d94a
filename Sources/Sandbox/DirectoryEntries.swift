import Foundation

/// The names in a directory (without "." and ".."), straight from readdir: nil when it
/// cannot be opened. Used instead of `FileManager.contentsOfDirectory` on paths every
/// launch takes, because in a fresh process (each `sandbox exec`) Foundation's version
/// first pays ~0.05 ms of generic-conformance lookups.
enum DirectoryEntries {
    static func names(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let bytes = raw.bindMemory(to: UInt8.self)
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }
}
