import Foundation

/// Human output of the `tasks` commands: aligned columns, sizes and durations in short
/// units, and nothing a terminal would interpret (control characters are shown escaped).
enum TaskTables {
    /// Columns padded to their widest cell; the last column is not padded.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.count > i ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Text from the daemon (issue titles, reasons: GitHub's or a runtime's) made safe to
    /// print: control characters, escape sequences included, become visible escapes.
    static func safe(_ text: String, max: Int = 200) -> String {
        var out = ""
        for u in text.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f || (0x80..<0xa0).contains(u.value) {
                out += u == "\n" ? "\\n" : u == "\t" ? "\\t" : String(format: "\\x%02x", u.value)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out.count > max ? String(out.prefix(max - 1)) + "…" : out
    }

    static func string(_ o: [String: Any], _ key: String) -> String {
        switch o[key] {
        case let s as String: return safe(s)
        case let n as NSNumber: return n.stringValue
        default: return "-"
        }
    }

    static func seconds(_ v: Any?) -> String {
        guard let s = (v as? NSNumber)?.doubleValue else { return "-" }
        if s < 10 { return String(format: "%.2fs", s) }
        if s < 120 { return String(format: "%.0fs", s) }
        if s < 7200 { return String(format: "%.0fm%02.0fs", (s / 60).rounded(.down), s.truncatingRemainder(dividingBy: 60)) }
        return String(format: "%.1fh", s / 3600)
    }

    static func bytes(_ v: Any?) -> String {
        guard let b = (v as? NSNumber)?.doubleValue else { return "-" }
        let units = ["B", "K", "M", "G", "T"]
        var value = b, unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(Int(value))B" : String(format: value < 10 ? "%.1f%@" : "%.0f%@", value, units[unit])
    }

    /// "issue #12", "PR #7", "mention #3".
    static func trigger(kind: String, number: Any?) -> String {
        let n = (number as? NSNumber).map { " #\($0.intValue)" } ?? ""
        switch kind {
        case "fix_issue": return "issue" + n
        case "address_review_comment": return "PR review" + n
        case "respond_to_mention": return "mention" + n
        default: return safe(kind) + n
        }
    }

    static func list(_ tasks: [[String: Any]]) -> String {
        guard !tasks.isEmpty else { return "no tasks" }
        let rows = tasks.map { t in
            [string(t, "id"), string(t, "state"), string(t, "repo"), trigger(kind: t["kind"] as? String ?? "", number: t["number"]),
             string(t, "familiar"), string(t, "attempt_count"), string(t, "updated_at"), safe(t["reason"] as? String ?? "", max: 60)]
        }
        return table(["ID", "STATE", "REPO", "TRIGGER", "FAMILIAR", "ATTEMPTS", "UPDATED", "REASON"], rows)
    }

    /// How an attempt ended, from its exit report: "exit 0", "signal 9", "timed out", …
    static func exit(_ report: [String: Any]?) -> String {
        guard let r = report else { return "-" }
        if let c = r["exit_code"] as? NSNumber { return "exit \(c.intValue)" }
        if let s = r["signal"] as? NSNumber { return "signal \(s.intValue)" }
        if let e = r["error"] as? String { return safe(e) }
        return string(r, "class")
    }

    static func denials(_ report: [String: Any]?) -> String {
        guard let d = report?["denied_syscalls"] as? [String: Any], !d.isEmpty else { return "-" }
        return d.keys.sorted().map { "\(safe($0, max: 40))×\((d[$0] as? NSNumber)?.intValue ?? 0)" }.joined(separator: ",")
    }

    static func show(_ t: [String: Any]) -> String {
        let spec = t["task"] as? [String: Any] ?? [:]
        let repo = spec["repo"] as? [String: Any] ?? [:]
        let kind = spec["task"] as? [String: Any] ?? [:]
        let number = kind["issue_number"] ?? kind["pr_number"]
        var state = string(t, "state")
        if let d = t["disposition"] as? String { state += " (\(safe(d)))" }
        var lines: [(String, String)] = [
            ("task", string(t, "id")),
            ("state", state),
            ("repository", "\(string(repo, "owner"))/\(string(repo, "name"))"),
            ("trigger", trigger(kind: kind["kind"] as? String ?? "", number: number)),
            ("familiar", string(spec["familiar"] as? [String: Any] ?? [:], "id")),
            ("created", string(t, "created_at")),
            ("updated", string(t, "updated_at")),
        ]
        if let title = kind["issue_title"] as? String { lines.insert(("title", safe(title, max: 100)), at: 4) }
        if let r = t["reason"] as? String { lines.append(("reason", safe(r))) }
        if let res = t["result"] as? [String: Any] {
            var s = string(res, "status")
            if let c = res["commits"] as? [Any] { s += ", \(c.count) commit\(c.count == 1 ? "" : "s")" }
            if let b = res["branch"] as? String { s += ", branch \(safe(b, max: 100))" }
            lines.append(("result", s))
            // A review's outcome is its findings (contract v2); `none` is a v2 result of other work.
            if let review = res["review"] as? [String: Any], review["mode"] as? String != "none" {
                let findings = review["findings"] as? [[String: Any]] ?? []
                lines.append(("review", "\(string(review, "evidence_status")), \(findings.count) finding\(findings.count == 1 ? "" : "s")"))
                for f in findings {
                    let at = string(f, "file") + ((f["line"] as? NSNumber).map { ":\($0.intValue)" } ?? "")
                    lines.append(("finding", "\(string(f, "severity")) \(safe(at, max: 100)) \(safe(f["title"] as? String ?? "", max: 100))"))
                }
            }
        }
        let width = lines.map(\.0.count).max() ?? 0
        var out = lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
        let attempts = t["attempts"] as? [[String: Any]] ?? []
        out += "\n\n"
        if attempts.isEmpty { return out + "no attempts yet" }
        let rows = attempts.map { a -> [String] in
            let r = a["exit_report"] as? [String: Any]
            return [string(a, "number"), string(a, "state"), a["classification"].map { "\($0)" } ?? "-", exit(r),
                    seconds(r?["wall_time_s"]), seconds(r?["cpu_time_s"]), bytes(r?["peak_memory_bytes"]),
                    bytes(a["stdout_bytes"]) + "/" + bytes(a["stderr_bytes"]), denials(r)]
        }
        return out + table(["ATTEMPT", "STATE", "CLASS", "EXIT", "WALL", "CPU", "PEAK MEM", "OUT/ERR", "DENIED"], rows)
    }
}
