// swift-tools-version:6.0
// coven-supervisor: run untrusted coding agents in namespace sandboxes.
// No Swift package dependencies: the toolchain plus system C libraries.
import PackageDescription

let package = Package(
    name: "coven-supervisor",
    products: [
        .executable(name: "coven-supervisor", targets: ["coven-supervisor"]),
        .executable(name: "coven-supervisor-daemon", targets: ["coven-supervisor-daemon"]),
        .executable(name: "coven-askpass", targets: ["coven-askpass"]),
        .executable(name: "coven-sandbox-zygote", targets: ["coven-sandbox-zygote"]),
    ],
    targets: [
        // System libraries (Debian -dev packages, installed by `make deps`).
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp",
                       pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL",
                       pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite",
                       pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The GitHub client's HTTPS (libcurl's multi interface, driven by us; see CurlTransport).
        .systemLibrary(name: "CCurl", path: "Sources/CCurl",
                       pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // The fleet's shared PostgreSQL (libpq). Only the daemon links it: the lean
        // static `coven-supervisor` cannot (no static libpq), so Supervisor never imports it.
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ",
                       pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // The clone/exec path: everything between clone() and execve() lives here,
        // in async-signal-safe C. No Swift runtime code ever runs in a forked child.
        // -fno-plt: its calls into libc are bound when the program loads, never lazily, so
        // a sandbox's init (a copy of the daemon) never runs the dynamic loader's symbol
        // lookup, which would walk every library the daemon loaded (see launcher.c).
        .target(name: "CSandbox", path: "Sources/CSandbox", cSettings: [.unsafeFlags(["-fno-plt"])]),

        // The GIT_ASKPASS helper that runs inside the sandbox (plain C, no token in it).
        // -static-stdlib: SwiftPM links the Swift runtime into every executable, and the
        // helper must run inside sandboxes that only see /usr and /lib.
        .executableTarget(name: "coven-askpass", path: "Sources/coven-askpass",
                          linkerSettings: [.unsafeFlags(["-static-stdlib"])]),
        // The launcher process (see CSandbox/zygote.c): sandboxes are cloned from its small
        // address space, not the daemon's. A static executable: no dynamic loader or shared
        // libraries mapped, so each clone copies as little as possible.
        .executableTarget(name: "coven-sandbox-zygote", dependencies: ["CSandbox"], path: "Sources/coven-sandbox-zygote",
                          linkerSettings: [.unsafeFlags(["-static-stdlib", "-static-executable"])]),

        .target(name: "Sandbox", dependencies: ["CSandbox", "CSeccomp"], path: "Sources/Sandbox"),
        .target(name: "Supervisor", dependencies: ["Sandbox", "CSQLite"], path: "Sources/Supervisor"),
        // HTTP/1.1 server and client on plain sockets: no TLS, no libcurl, nothing of GitHub.
        .target(name: "HTTP", path: "Sources/HTTP"),
        // The store's SQLConnection on PostgreSQL (libpq): daemon side only.
        .target(name: "PostgresStore", dependencies: ["Supervisor", "CLibPQ"], path: "Sources/PostgresStore"),
        .target(name: "Adapter", dependencies: ["Supervisor", "HTTP", "COpenSSL", "CCurl", "PostgresStore"], path: "Sources/Adapter"),
        // Test support only tests link: the daemon binary never ships a fake GitHub.
        .target(name: "AdapterTesting", dependencies: ["Adapter", "HTTP"], path: "Sources/AdapterTesting"),
        // A throwaway PostgreSQL server for tests (Debian's binaries, run unprivileged).
        .target(name: "StoreTesting", dependencies: ["Supervisor", "PostgresStore"], path: "Sources/StoreTesting"),
        // Benchmarks (`make bench`): side-by-side medians, never speed goals in tests.
        // StoreTesting (test support: a throwaway PostgreSQL server) is linked for the fleet
        // store's benchmarks only; the bench binary is never shipped.
        .executableTarget(name: "coven-bench", dependencies: ["Sandbox", "Supervisor", "Adapter", "HTTP",
                                                             "PostgresStore", "StoreTesting"],
                          path: "Sources/coven-bench"),
        // The command line: a lean binary for `sandbox exec` / `run-task` (fast start:
        // no HTTP, TLS or libcurl), and the daemon binary for `serve` / `doctor`.
        // The lean one is a static executable: no dynamic loader, no relocation of
        // libstdc++/libseccomp/libsqlite at every start (~2 ms of each `sandbox exec`).
        // SwiftPM names Foundation's static C parts only with --static-swift-stdlib, so
        // they are listed here for debug builds too.
        .target(name: "CovenCommands", dependencies: ["Sandbox", "Supervisor"], path: "Sources/CovenCommands"),
        .executableTarget(name: "coven-supervisor", dependencies: ["CovenCommands"],
                          path: "Sources/coven-supervisor",
                          linkerSettings: [.unsafeFlags(["-static-stdlib", "-static-executable", "-lCoreFoundation", "-l_FoundationICU",
                                                         "-l_FoundationCShims", "-l_FoundationCollections", "-lstdc++"])]),
        // `tasks …`: the operator's client of the task API (needs HTTP, so the daemon binary has it).
        .target(name: "TaskCommands", dependencies: ["CovenCommands", "HTTP", "Adapter"], path: "Sources/TaskCommands"),
        .executableTarget(name: "coven-supervisor-daemon", dependencies: ["CovenCommands", "Adapter", "TaskCommands"],
                          path: "Sources/coven-supervisor-daemon"),

        .testTarget(name: "SandboxTests", dependencies: ["Sandbox"], path: "Tests/SandboxTests"),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "Sandbox", "Adapter", "AdapterTesting", "HTTP",
                                                           "StoreTesting", "PostgresStore"], path: "Tests/SupervisorTests",
                    exclude: ["Fixtures"]),
        .testTarget(name: "AdapterTests", dependencies: ["Adapter", "AdapterTesting", "HTTP", "Supervisor", "Sandbox",
                                                        "CovenCommands", "TaskCommands", "StoreTesting", "PostgresStore"],
                    path: "Tests/AdapterTests"),
        .testTarget(name: "PostgresStoreTests", dependencies: ["PostgresStore", "StoreTesting", "Supervisor"],
                    path: "Tests/PostgresStoreTests"),
        // Fleet mode end to end: several real `serve` daemons on one PostgreSQL (`make test-fleet`).
        .testTarget(name: "FleetTests", dependencies: ["Adapter", "AdapterTesting", "HTTP", "Supervisor", "Sandbox",
                                                      "StoreTesting", "PostgresStore"], path: "Tests/FleetTests"),
    ]
)
