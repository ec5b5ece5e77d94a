import Foundation

/// What one GitHub App installation (tenant) may use, per UTC day and at once
/// (`installations[]` in the daemon's configuration). Nil: no limit.
public struct InstallationLimits: Sendable, Equatable {
    /// What happens to a new task when a daily limit is already reached.
    public enum OverLimit: String, Sendable, Equatable, CaseIterable {
        /// Stored, and started once the limit allows (the next UTC day).
        case queue
        /// Stored as cancelled with the limit as its reason (its status comment says so).
        case refuse
    }

    /// Attempts running at once (replaces the supervisor's per-installation default).
    public var maxConcurrent: Int?
    /// Tasks accepted per day.
    public var maxTasksPerDay: Int?
    /// Attempt wall-clock minutes per day; checked before each attempt starts.
    public var maxAttemptMinutesPerDay: Int?
    public var overLimit: OverLimit

    public init(maxConcurrent: Int? = nil, maxTasksPerDay: Int? = nil, maxAttemptMinutesPerDay: Int? = nil,
                overLimit: OverLimit = .queue) {
        self.maxConcurrent = maxConcurrent; self.maxTasksPerDay = maxTasksPerDay
        self.maxAttemptMinutesPerDay = maxAttemptMinutesPerDay; self.overLimit = overLimit
    }

    public var isEmpty: Bool { maxConcurrent == nil && maxTasksPerDay == nil && maxAttemptMinutesPerDay == nil }
}

/// One installation's usage on one UTC day. Kept apart from the tasks, so pruning tasks
/// keeps it; only an uninstall (`installation.deleted`) removes it.
public struct InstallationUsage: Sendable, Equatable {
    public var installationID: Int64
    /// `YYYY-MM-DD`, UTC.
    public var day: String
    /// Tasks accepted (counted on the day they may start).
    public var tasks: Int
    /// Attempts started.
    public var attempts: Int
    public var wallSeconds: Double
    public var cpuSeconds: Double
    /// The largest peak memory of one attempt that day.
    public var peakMemoryBytes: UInt64
    /// Bytes through the attempts' egress proxies, both directions.
    public var egressBytes: UInt64

    public init(installationID: Int64, day: String, tasks: Int = 0, attempts: Int = 0, wallSeconds: Double = 0,
                cpuSeconds: Double = 0, peakMemoryBytes: UInt64 = 0, egressBytes: UInt64 = 0) {
        self.installationID = installationID; self.day = day; self.tasks = tasks; self.attempts = attempts
        self.wallSeconds = wallSeconds; self.cpuSeconds = cpuSeconds; self.peakMemoryBytes = peakMemoryBytes
        self.egressBytes = egressBytes
    }
}

/// What an attempt used, added to its installation's day when the attempt is recorded.
public struct AttemptUsage: Sendable, Equatable {
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakMemoryBytes: UInt64
    public var egressBytes: UInt64

    public init(wallSeconds: Double = 0, cpuSeconds: Double = 0, peakMemoryBytes: UInt64 = 0, egressBytes: UInt64 = 0) {
        self.wallSeconds = wallSeconds; self.cpuSeconds = cpuSeconds; self.peakMemoryBytes = peakMemoryBytes
        self.egressBytes = egressBytes
    }
}

/// What `purgeInstallation` removed.
public struct InstallationPurge: Sendable, Equatable {
    public var tasks = 0
    public var attempts = 0
    public var deliveries = 0
    public var publications = 0
    public var usageDays = 0
    public init() {}
}

/// How a new task was let in under its installation's limits.
public enum Admission: Sendable, Equatable {
    /// Queued; `heldBy` names the limit it waits for, if any (its status comment says so).
    case admitted(heldBy: String?)
    /// Stored as cancelled: `reason` names the limit.
    case refused(reason: String)
}

/// UTC calendar days, as usage is kept.
public enum UsageDay {
    private static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    /// `YYYY-MM-DD` of `date` in UTC.
    public static func string(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// Midnight UTC `days` days after the start of `date`'s day.
    public static func start(of date: Date, addingDays days: Int = 0) -> Date {
        let start = calendar.startOfDay(for: date)
        return calendar.date(byAdding: .day, value: days, to: start) ?? start
    }
}
