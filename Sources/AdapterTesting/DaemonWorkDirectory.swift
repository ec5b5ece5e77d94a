import Foundation
import Adapter

/// The directory a test gives a real `serve` child process: `repos/` for the git server,
/// `runtime/runtime.sh` (the fake coven-code, world-readable so sandbox uids run it), the
/// App's freshly generated key (`app.pem`, 0600) and the webhook secret.
public enum DaemonWorkDirectory {
    /// Makes `<tmp>/<prefix>-<random>` and returns it with the App's key (GitHub, the fake,
    /// is given its public half).
    public static func make(prefix: String, runtime: String, webhookSecret: String) throws -> (dir: String, key: RSAPrivateKey) {
        let dir = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/repos", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/runtime", withIntermediateDirectories: true)
        chmod(dir, 0o755)
        chmod(dir + "/runtime", 0o755)
        try runtime.write(toFile: dir + "/runtime/runtime.sh", atomically: true, encoding: .utf8)
        chmod(dir + "/runtime/runtime.sh", 0o755)
        let key = try RSAPrivateKey.generate(bits: 2048)
        FileManager.default.createFile(atPath: dir + "/app.pem", contents: Data(try key.exportPrivateKeyPEM()),
                                       attributes: [.posixPermissions: 0o600])
        try webhookSecret.write(toFile: dir + "/webhook-secret", atomically: true, encoding: .utf8)
        return (dir, key)
    }
}
