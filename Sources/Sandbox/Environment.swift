import Foundation

/// Cheap process-environment reads (one `getenv`, not a dictionary of the whole
/// environment as `ProcessInfo` builds): these sit on `sandbox exec`'s start-up path.
enum Environment {
    static func value(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }

    /// The directory of the running executable.
    static func executableDirectory() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let path = buf[0..<n].withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}

/// `env["NAME"]` over getenv, for code written against a dictionary.
struct EnvironmentReader {
    subscript(_ name: String) -> String? { Environment.value(name) }
}
