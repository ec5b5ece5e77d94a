import XCTest
@testable import Sandbox

/// Where sandbox cgroups go on a cgroup v2 host, decided from a snapshot of the hierarchy
/// (pure: the layouts here are the ones systemd, container engines and bare VMs make; the VM
/// suite, `make test-vm`, runs the same layouts on real v2 kernels).
final class CgroupPlacementTests: XCTestCase {
    static let me: pid_t = 4242
    static let all: Set<String> = ["cpu", "memory", "pids", "io"]
    static let mount = "/sys/fs/cgroup"

    static func node(_ path: String, controllers: Set<String> = all, enabled: Set<String> = [], procs: [pid_t] = [],
                     writable: Bool = true, realRoot: Bool = false) -> V2Node {
        V2Node(path: path == "/" ? mount : mount + path, controllers: controllers, subtreeControl: enabled,
               processes: procs, writable: writable, isRealRoot: realRoot)
    }

    static func snapshot(_ chain: [V2Node], inLeaf: Bool = false, ours: Set<pid_t> = [me]) -> V2Snapshot {
        V2Snapshot(mount: mount, chain: chain, inLeaf: inLeaf, ours: ours)
    }

    /// The ranked first choice.
    static func chosen(_ s: V2Snapshot) -> V2Plan? { CgroupV2Placement.ranked(CgroupV2Placement.candidates(s).plans).first }

    // MARK: layout 1: a service of its own (systemd Delegate=yes)

    static let service = snapshot([
        node("/", enabled: all, procs: [1], realRoot: true),
        node("/system.slice", enabled: all),
        node("/system.slice/coven-supervisor.service", procs: [me]),
    ])

    func testDelegatedServiceUsesItsOwnSubtree() {
        let plan = Self.chosen(Self.service)
        XCTAssertEqual(plan?.kind, .ownSubtree, "a service alone in its delegated cgroup should keep its sandboxes inside it")
        XCTAssertEqual(plan?.sandboxParent, Self.mount + "/system.slice/coven-supervisor.service/sandboxes")
    }

    func testDelegatedServiceMovesItselfIntoItsLeafBeforeEnablingControllers() throws {
        let steps = try XCTUnwrap(Self.chosen(Self.service)).steps
        let svc = Self.mount + "/system.slice/coven-supervisor.service"
        XCTAssertEqual(Array(steps.prefix(3)), [.makeDirectory(svc + "/supervisor"), .move([Self.me], into: svc + "/supervisor"),
                                                .enable(["memory", "pids", "cpu"], at: svc)],
                       "the process must leave its cgroup before controllers are enabled there, memory first")
    }

    func testUnderDelegateSubgroupNothingMoves() throws {
        let s = Self.snapshot([
            Self.node("/", enabled: Self.all, procs: [1], realRoot: true),
            Self.node("/system.slice", enabled: Self.all),
            Self.node("/system.slice/coven-supervisor.service", enabled: ["memory", "pids", "cpu"]),
        ], inLeaf: true)
        let plan = try XCTUnwrap(Self.chosen(s))
        XCTAssertEqual(plan.kind, .ownSubtree)
        XCTAssertFalse(plan.steps.contains { if case .move = $0 { return true } else { return false } },
                       "already in …/supervisor (DelegateSubgroup=): no process should move: \(plan.steps)")
    }

    func testOurOwnChildrenMoveWithUs() throws {
        let child: pid_t = 5000
        let s = Self.snapshot([
            Self.node("/", enabled: Self.all, procs: [1], realRoot: true),
            Self.node("/system.slice", enabled: Self.all),
            Self.node("/system.slice/x.service", procs: [Self.me, child]),
        ], ours: [Self.me, child])
        let plan = try XCTUnwrap(Self.chosen(s))
        XCTAssertEqual(plan.kind, .ownSubtree)
        XCTAssertTrue(plan.steps.contains(.move([Self.me, child], into: Self.mount + "/system.slice/x.service/supervisor")),
                      "a child of ours in our cgroup moves along: \(plan.steps)")
    }

    // MARK: layout 2: a populated session scope or service (as root)

    static let session = snapshot([
        node("/", enabled: all, procs: [1], realRoot: true),
        node("/user.slice", enabled: all),
        node("/user.slice/user-0.slice", enabled: all),
        node("/user.slice/user-0.slice/session-1.scope", procs: [700, me]),
    ])

    func testPopulatedSessionScopeIsNeverUsed() throws {
        let (plans, rejected) = CgroupV2Placement.candidates(Self.session)
        XCTAssertFalse(plans.contains { $0.kind == .ownSubtree }, "sandboxes must never go into the caller's populated cgroup")
        XCTAssertTrue(rejected.contains { $0.contains("session-1.scope") && $0.contains("700") },
                      "the reason should name the cgroup and the other process: \(rejected)")
    }

    func testRootInASessionUsesATopLevelSlice() {
        let plan = Self.chosen(Self.session)
        XCTAssertEqual(plan?.kind, .topLevel)
        XCTAssertEqual(plan?.sandboxParent, Self.mount + "/coven")
    }

    // MARK: layout 3: no systemd, and containers

    func testRealRootHoldingProcessesNeedsNoEvacuation() throws {
        let s = Self.snapshot([Self.node("/", procs: [1, Self.me], realRoot: true)])
        let plan = try XCTUnwrap(Self.chosen(s))
        XCTAssertEqual(plan.sandboxParent, Self.mount + "/coven")
        XCTAssertEqual(plan.steps.first, .enable(["memory", "pids", "cpu"], at: Self.mount),
                       "the real root may hold processes and pass on controllers: nothing to move")
    }

    func testContainerNamespaceRootIsEmptiedIntoInitScopeFirst() throws {
        let s = Self.snapshot([Self.node("/", procs: [1, 17, Self.me], realRoot: false)])
        let plan = try XCTUnwrap(Self.chosen(s))
        XCTAssertEqual(Array(plan.steps.prefix(3)), [.makeDirectory(Self.mount + "/init.scope"),
                                                      .evacuate(Self.mount, into: Self.mount + "/init.scope"),
                                                      .enable(["memory", "pids", "cpu"], at: Self.mount)],
                       "a container's namespace root must be emptied before it can pass on controllers")
    }

    func testContainerRootThatAlreadyPassesControllersIsLeftAlone() throws {
        let s = Self.snapshot([Self.node("/", enabled: ["memory", "pids", "cpu"], procs: [], realRoot: false),
                               Self.node("/init", procs: [1, Self.me])])
        let plan = try XCTUnwrap(Self.chosen(s))
        XCTAssertEqual(plan.kind, .topLevel)
        XCTAssertFalse(plan.steps.contains { if case .evacuate = $0 { return true } else { return false } }, "\(plan.steps)")
    }

    // MARK: layout 4: rootless

    static let userService = snapshot([
        node("/", enabled: all, procs: [1], writable: false, realRoot: true),
        node("/user.slice", enabled: all, writable: false),
        node("/user.slice/user-1000.slice", enabled: all, writable: false),
        node("/user.slice/user-1000.slice/user@1000.service", enabled: ["memory", "pids", "cpu"]),
        node("/user.slice/user-1000.slice/user@1000.service/app.slice", controllers: ["memory", "pids", "cpu"]),
        node("/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope", controllers: [], procs: [900, me]),
    ])

    func testRootlessInsideUserServiceUsesTheDelegatedSubtree() {
        let plan = Self.chosen(Self.userService)
        XCTAssertEqual(plan?.kind, .delegated)
        XCTAssertEqual(plan?.sandboxParent, Self.mount + "/user.slice/user-1000.slice/user@1000.service/coven",
                       "the highest cgroup the user owns is where sandboxes go")
    }

    func testRootlessInALoginSessionHasNowhereToGo() {
        let s = Self.snapshot([
            Self.node("/", enabled: Self.all, procs: [1], writable: false, realRoot: true),
            Self.node("/user.slice", enabled: Self.all, writable: false),
            Self.node("/user.slice/user-1000.slice", enabled: Self.all, writable: false),
            Self.node("/user.slice/user-1000.slice/session-2.scope", procs: [800, Self.me], writable: false),
        ])
        let (plans, rejected) = CgroupV2Placement.candidates(s)
        XCTAssertEqual(plans, [], "nothing is delegated to this user here")
        XCTAssertTrue(rejected.contains { $0.contains("session-2.scope") && $0.contains("not writable") }, "\(rejected)")
    }

    // MARK: ranking

    func testOwnSubtreeWithMemoryAndPidsIsKeptWithoutCpu() {
        let s = Self.snapshot([
            Self.node("/", enabled: Self.all, procs: [1], realRoot: true),
            Self.node("/system.slice", enabled: ["memory", "pids"]),
            Self.node("/system.slice/x.service", controllers: ["memory", "pids"], procs: [Self.me]),
        ])
        XCTAssertEqual(Self.chosen(s)?.kind, .ownSubtree,
                       "sandboxes stay inside the unit (its limits and its stop cover them) even without cpu")
    }

    func testAPlaceWithMemoryAndPidsBeatsAnEarlierOneWithout() {
        let s = Self.snapshot([
            Self.node("/", enabled: Self.all, procs: [1], realRoot: true),
            Self.node("/system.slice", enabled: ["cpu"]),
            Self.node("/system.slice/x.service", controllers: ["cpu"], procs: [Self.me]),
        ])
        XCTAssertEqual(Self.chosen(s)?.kind, .topLevel, "without memory and pids in its own subtree, the top level wins")
    }

    func testWithNoControllersAnywhereTheOwnSubtreeStaysFirst() {
        let s = Self.snapshot([
            Self.node("/", controllers: [], procs: [1], realRoot: true),
            Self.node("/x", controllers: [], procs: [Self.me]),
        ])
        XCTAssertEqual(Self.chosen(s)?.kind, .ownSubtree)
        XCTAssertEqual(Self.chosen(s)?.controllers, [])
    }
}
