import Foundation
import Sandbox

/// The task record as JSON for `run-task` and the task API: spec, state, final
/// disposition, result, and every attempt with its exit report and output tails.
public enum TaskJSON {
    static func time(_ d: Date) -> String {
        d.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func encodable<T: Encodable>(_ v: T) -> Any {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(v), let obj = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return NSNull()
        }
        return obj
    }

    public static func object(_ d: TaskDetail, includeOutput: Bool = true) -> [String: Any] {
        let r = d.record
        var o: [String: Any] = [
            "id": r.id,
            "state": r.state.rawValue,
            "created_at": time(r.createdAt),
            "updated_at": time(r.updatedAt),
            "attempt_count": r.attemptCount,
            "task": encodable(r.spec),
        ]
        if let disp = r.disposition { o["disposition"] = disp.rawValue }
        if let reason = r.finalReason { o["reason"] = reason }
        if let res = r.result { o["result"] = encodable(res) }
        if r.cancelRequested { o["cancel_requested"] = true }
        o["attempts"] = d.attempts.map { a -> [String: Any] in
            var ao: [String: Any] = [
                "number": a.number,
                "state": a.state.rawValue,
                "started_at": time(a.startedAt),
            ]
            if let e = a.endedAt { ao["ended_at"] = time(e) }
            if let c = a.classification { ao["classification"] = c.rawValue }
            if let i = a.interruptedBy { ao["interrupted_by"] = i.rawValue }
            if let n = a.note { ao["note"] = n }
            if let rep = a.exitReport { ao["exit_report"] = ExitReportJSON.object(rep) }
            if includeOutput {
                ao["stdout_tail"] = a.stdout.text
                ao["stderr_tail"] = a.stderr.text
            }
            ao["stdout_bytes"] = a.stdout.originalByteCount
            ao["stderr_bytes"] = a.stderr.originalByteCount
            if let eg = a.egressLog, let data = eg.data(using: .utf8), let obj = try? JSONSerialization.jsonObject(with: data) {
                ao["egress"] = obj
            }
            return ao
        }
        return o
    }

    public static func data(_ d: TaskDetail, pretty: Bool = true, includeOutput: Bool = true) -> Data {
        var opts: JSONSerialization.WritingOptions = [.sortedKeys]
        if pretty { opts.insert(.prettyPrinted) }
        return (try? JSONSerialization.data(withJSONObject: object(d, includeOutput: includeOutput), options: opts)) ?? Data("{}".utf8)
    }
}
