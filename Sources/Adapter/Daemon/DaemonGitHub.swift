import Foundation
import Supervisor

extension Daemon {
    /// The GitHub App's publisher and git token provider.
    static func gitHubWiring(_ gh: DaemonConfig.GitHub, log: @escaping @Sendable (String, [String: String]) -> Void) throws
        -> (publisher: any Publisher, tokens: any GitTokenProvider) {
        throw DaemonError("GitHub App support is not in this build yet")
    }
}
