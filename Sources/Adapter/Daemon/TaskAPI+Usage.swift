import Foundation
import HTTP
import Supervisor

extension TaskAPI {
    /// `GET /api/installations/{id}/usage[?days=N]`: 200 `{"ok":true,"installation_id":ID,
    /// "days":[{"day":"YYYY-MM-DD","tasks":…,"attempts":…,"wall_seconds":…,"cpu_seconds":…,
    /// "peak_memory_bytes":…,"egress_bytes":…}, …],"limits":{…}}`, newest day first (30 by
    /// default, at most 366). An installation without usage has no days; 400 for an id that
    /// is not a positive number or a bad `days`.
    func usage(_ request: HTTPRequest) throws -> HTTPResponse {
        guard let text = request.parameter("id"), let id = Int64(text), id > 0 else {
            throw HTTPError(400, "installation id must be a positive number")
        }
        var days = 30
        if let d = request.queryValue("days") {
            guard let n = Int(d), n >= 1, n <= 366 else { throw HTTPError(400, "days must be a number from 1 to 366") }
            days = n
        }
        let rows: [[String: Any]] = try store.usage(installationID: id, days: days).map { u in
            ["day": u.day, "tasks": u.tasks, "attempts": u.attempts, "wall_seconds": u.wallSeconds,
             "cpu_seconds": u.cpuSeconds, "peak_memory_bytes": u.peakMemoryBytes, "egress_bytes": u.egressBytes]
        }
        var body: [String: Any] = ["ok": true, "installation_id": id, "days": rows]
        if let l = store.installationLimits[id] {
            var limits: [String: Any] = ["over_limit": l.overLimit.rawValue]
            if let v = l.maxConcurrent { limits["max_concurrent"] = v }
            if let v = l.maxTasksPerDay { limits["max_tasks_per_day"] = v }
            if let v = l.maxAttemptMinutesPerDay { limits["max_attempt_minutes_per_day"] = v }
            body["limits"] = limits
        }
        return .json(200, body)
    }
}
