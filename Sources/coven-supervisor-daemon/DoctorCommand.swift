import Foundation
import CovenCommands
import Sandbox
import Adapter

/// `coven-supervisor doctor [--config FILE]`
enum DoctorCommand {
    static let table = OptionTable<String?>(
        usage: ["coven-supervisor doctor [--config FILE]"],
        about: "Checks what serve needs: user namespaces (by launching /bin/true in a sandbox), seccomp, cgroups, "
            + "pidfd, git and the askpass helper; with --config also the file itself, the GitHub App key, the "
            + "webhook secret, the runtime, the state directory, the store (schema; for PostgreSQL "
            + "also the url_file, the connection, clock skew and host_id) and the task API token. One line per check: ok, "
            + "warn (works, degraded) or FAIL (what will not work). Secrets are read to check them, never printed.",
        options: [.value("--config", metavar: "FILE", help: "the JSON configuration to check") { $0 = $1 }],
        notes: "exit status: 0 when nothing FAILs, 1 otherwise, 2 on a usage error.")

    static var help: String { table.help }

    static func main(_ args: [String]) -> Int32 {
        var configPath: String?
        do {
            if try table.parse(args, into: &configPath) == .help { print(help); return 0 }
        } catch {
            return CLI.failure("doctor", error, status: 2)
        }

        var checks: [Doctor.Check] = []
        var profile = "default"
        var needsCPU = false
        if let configPath {
            let (config, configChecks) = Doctor.configChecks(path: configPath)
            checks += configChecks
            if let config { profile = config.sandbox.profile; needsCPU = config.sandbox.cpus != nil }
        } else if let examples = LocalMode.findExamplesDirectory() {
            checks.append(.init(.ok, "local mode", "example runtime at \(examples)/\(LocalMode.exampleRuntimeName)"))
        } else {
            checks.append(.init(.warn, "local mode", "examples/\(LocalMode.exampleRuntimeName) not found: serve without --config will not start here"))
        }
        checks = Doctor.hostChecks(profile: profile, needsCPU: needsCPU) + checks
        for c in checks { print(c.line) }
        let failed = checks.filter { $0.level == .fail }.count
        let warned = checks.filter { $0.level == .warn }.count
        print("doctor: \(checks.count - failed - warned) ok, \(warned) warn, \(failed) FAIL")
        return failed == 0 ? 0 : 1
    }
}
