import Foundation
import Sandbox
import Supervisor

/// The dashboard's HTML, rendered on the server. Every value that did not come from this
/// file goes through `h()` (task fields come from GitHub or an API client, results and
/// output from a runtime). No inline script or style: see `DashboardAssets`.
enum DashboardPages {
    /// What the health panel shows.
    struct Health {
        var storeUp: Bool
        var queued: Int
        var running: Int
        var concurrency: Int
        var launches: UInt64
        var launchP50: Double?
        var launchP95: Double?
        var launchMean: Double?
        var hosts: [Host]
        struct Host { var name: String; var running: Int; var slots: Int; var since: Date; var mode: String }
    }

    /// One row of the task list.
    struct Row {
        var record: TaskRecord
        var attempts: [AttemptRecord]
    }

    /// Links to GitHub for a task, when known.
    struct Links {
        var items: [(label: String, url: String)] = []
    }

    // MARK: - Layout

    static func layout(title: String, csrf: String?, refresh: Int = 0, version: String = "", content: String) -> String {
        let nav = csrf.map { token in
            """
            <a href="/">Tasks</a>
            <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="\(h(token))"><button type="submit" id="logout">Log out</button></form>
            """
        } ?? ""
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(h(title)) · coven-supervisor</title><link rel="stylesheet" href="\(DashboardAssets.cssPath)">
        <script src="\(DashboardAssets.jsPath)" defer></script></head>
        <body data-refresh="\(refresh)" data-version="\(h(version))">
        <header class="top"><a class="brand" href="/">coven-supervisor</a>\(nav)</header>
        <main>
        \(content)
        </main></body></html>
        """
    }

    static func message(title: String, text: String, csrf: String?, link: (String, String)? = nil) -> String {
        let more = link.map { "<p><a href=\"\(h($0.1))\">\(h($0.0))</a></p>" } ?? ""
        return layout(title: title, csrf: csrf, content: "<h1>\(h(title))</h1><div class=\"card error\"><p>\(h(text))</p>\(more)</div>")
    }

    static func login(csrf: String, error: String?, available: Bool) -> String {
        let problem = error.map { "<div class=\"card error\" id=\"login-error\">\(h($0))</div>" } ?? ""
        let form = available ? """
            <form method="post" action="/login" class="card">
            <input type="hidden" name="csrf" value="\(h(csrf))">
            <label for="token">API token</label>
            <input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
            <p class="muted">The task API's token (the file named by <code>api.token_path</code>; in local mode <code>state/api-token</code>).</p>
            <button type="submit" id="login">Log in</button>
            </form>
            """ : "<div class=\"card error\">No API token is configured (<code>api.token_path</code>): nobody can log in.</div>"
        return layout(title: "Log in", csrf: nil, content: "<div class=\"login\"><h1>Log in</h1>\(problem)\(form)</div>")
    }

    // MARK: - Task list

    static func list(rows: [Row], health: Health, csrf: String, state: TaskState?, repo: String, notice: String?,
                     demoTask: String?, now: Date) -> String {
        let stateOptions = "<option value=\"\"\(state == nil ? " selected" : "")>any</option>"
            + TaskState.allCases.map { s in
                "<option value=\"\(s.rawValue)\"\(state == s ? " selected" : "")>\(s.rawValue)</option>"
            }.joined()
        let filters = """
            <form class="filters" method="get" action="/">
            <label>State<select name="state" id="filter-state">\(stateOptions)</select></label>
            <label>Repository<input name="repo" id="filter-repo" value="\(h(repo))" placeholder="owner/name"></label>
            <button type="submit">Filter</button> <a href="/">clear</a>
            </form>
            """
        let body = rows.isEmpty ? "<tr><td colspan=\"9\" class=\"muted\">No tasks.</td></tr>" : rows.map { row($0, now: now) }.joined()
        let table = """
            <table id="tasks"><thead><tr><th>Task</th><th>State</th><th>Repository</th><th>Trigger</th><th>Familiar</th>
            <th class="num">Attempts</th><th>Last exit</th><th class="num">Duration</th><th>Usage</th></tr></thead>
            <tbody>\(body)</tbody></table>
            """
        let submit = """
            <details class="card" id="submit"\(demoTask != nil ? " open" : "")><summary>Submit a task</summary>
            <form method="post" action="/tasks">
            <input type="hidden" name="csrf" value="\(h(csrf))">
            <p class="muted">A task as JSON, as <code>POST /api/tasks</code> takes it (docs/contract.md).\(demoTask != nil ? " Filled in: local mode's demo task." : "")</p>
            <textarea name="task" id="task-json" spellcheck="false">\(h(demoTask ?? ""))</textarea>
            <p><button type="submit" id="submit-task">Submit</button></p>
            </form></details>
            """
        let noticeHTML = notice.map { "<div class=\"card notice\" id=\"notice\">\(h($0))</div>" } ?? ""
        let content = """
            <h1>Tasks</h1>
            \(noticeHTML)
            <div id="health-panel" data-live>\(healthPanel(health, now: now))</div>
            \(filters)
            <div id="task-list" data-live>\(table)</div>
            <p class="muted no-js">Without JavaScript this page does not refresh by itself: <a href="">reload</a>.</p>
            \(submit)
            """
        return layout(title: "Tasks", csrf: csrf, refresh: 2, version: "list", content: content)
    }

    static func row(_ r: Row, now: Date) -> String {
        let rec = r.record
        let last = r.attempts.last
        let lastExit = last.map(exitSummary) ?? "<span class=\"muted\">–</span>"
        let finished = [.completed, .failed, .cancelled].contains(rec.state)
        let duration = (finished ? rec.updatedAt : now).timeIntervalSince(rec.createdAt)
        let cpu = r.attempts.compactMap { $0.exitReport?.cpuTime }.reduce(0, +)
        let peak = r.attempts.compactMap { $0.exitReport?.peakMemoryBytes }.max()
        let usage = r.attempts.contains { $0.exitReport != nil }
            ? "CPU \(h(seconds(cpu)))" + (peak.map { ", peak \(h(bytes($0)))" } ?? "") : "<span class=\"muted\">–</span>"
        return """
            <tr data-task="\(h(rec.id))"><td><a href="/tasks/\(h(HTML.urlComponent(rec.id)))">\(h(rec.id))</a><br><span class="muted">\(h(title(rec.spec)))</span></td>
            <td><span class="state state-\(rec.state.rawValue)">\(rec.state.rawValue)</span></td>
            <td>\(h(rec.spec.repo.owner + "/" + rec.spec.repo.name))</td>
            <td>\(h(trigger(rec.spec)))</td><td>\(h(rec.spec.familiar.id))</td>
            <td class="num">\(rec.attemptCount)</td><td>\(lastExit)</td>
            <td class="num">\(h(seconds(duration)))</td><td>\(usage)</td></tr>
            """
    }

    static func healthPanel(_ hl: Health, now: Date) -> String {
        func figure(_ label: String, _ value: String, id: String) -> String {
            "<div class=\"figure\" id=\"\(id)\"><span class=\"muted\">\(h(label))</span><b>\(h(value))</b></div>"
        }
        let latency = hl.launches == 0 ? "–"
            : "p50 ≤ \(hl.launchP50.map(seconds) ?? "–"), p95 ≤ \(hl.launchP95.map(seconds) ?? "–")"
        let hosts = hl.hosts.map { host in
            "<tr><td>\(h(host.name))</td><td>\(h(host.mode))</td><td class=\"num\">\(host.running) / \(host.slots)</td><td>\(h(time(host.since)))</td></tr>"
        }.joined()
        return """
            <div class="card"><h2>Health</h2><div class="health">
            \(figure("Store", hl.storeUp ? "up" : "DOWN", id: "health-store"))
            \(figure("Queue depth", String(hl.queued), id: "health-queued"))
            \(figure("Attempts running", "\(hl.running) of \(hl.concurrency)", id: "health-running"))
            \(figure("Sandbox launch (\(hl.launches))", latency, id: "health-launch"))
            </div>
            <table id="hosts"><thead><tr><th>Host</th><th>Role</th><th class="num">Attempts / slots</th><th>Up since</th></tr></thead><tbody>\(hosts)</tbody></table>
            <p class="muted">One host today; fleet mode (several hosts on one store) is future work.</p></div>
            """
    }

    // MARK: - Task page

    static func task(_ d: TaskDetail, csrf: String, links: Links, outputURL: (Int, AttemptStream) -> String, now: Date) -> String {
        let r = d.record
        let spec = r.spec
        let finished = [.completed, .failed, .cancelled].contains(r.state)
        var facts: [(String, String)] = [
            ("State", "<span class=\"state state-\(r.state.rawValue)\" id=\"task-state\">\(r.state.rawValue)</span>"
                + (r.cancelRequested && !finished ? " <span class=\"muted\">(cancel requested)</span>" : "")),
            ("Repository", h(spec.repo.owner + "/" + spec.repo.name)),
            ("Trigger", h(trigger(spec))),
            ("Title", h(title(spec))),
            ("Familiar", h(spec.familiar.displayName + " (" + spec.familiar.id + ")")),
            ("Source", h(source(spec))),
            ("Created", h(time(r.createdAt))),
            ("Updated", h(time(r.updatedAt))),
        ]
        if let disp = r.disposition { facts.append(("Disposition", h(disp.rawValue))) }
        if let reason = r.finalReason { facts.append(("Reason", h(reason))) }
        if let res = r.result {
            facts.append(("Result", h(res.status.rawValue + ": " + res.summary)))
            if let branch = res.branch { facts.append(("Branch", "<code>\(h(branch))</code>")) }
            if let review = res.review, review.mode != .none {
                let items = review.findings.map { f in
                    "<li>\(h(f.severity.rawValue)) <code>\(h(f.file + (f.line.map { ":\($0)" } ?? "")))</code> \(h(f.title))</li>"
                }
                facts.append(("Review", h("\(review.evidenceStatus.rawValue), \(review.findings.count) finding(s)")
                              + (items.isEmpty ? "" : "<ul class=\"findings\">" + items.joined() + "</ul>")))
            }
        }
        if !links.items.isEmpty {
            facts.append(("Links", links.items.map { "<a href=\"\(h($0.url))\" rel=\"noreferrer\">\(h($0.label))</a>" }.joined(separator: " · ")))
        }
        let factsHTML = "<dl class=\"facts\">" + facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined() + "</dl>"
        let id = h(HTML.urlComponent(r.id))
        var actions = ""
        if !finished {
            actions += "<form class=\"inline\" method=\"post\" action=\"/tasks/\(id)/cancel\"><input type=\"hidden\" name=\"csrf\" value=\"\(h(csrf))\"><button type=\"submit\" id=\"cancel\">Cancel</button></form> "
        } else {
            actions += "<form class=\"inline\" method=\"post\" action=\"/tasks/\(id)/retry\"><input type=\"hidden\" name=\"csrf\" value=\"\(h(csrf))\"><button type=\"submit\" id=\"retry\">Retry</button></form> "
        }
        let attempts = d.attempts.isEmpty ? "<p class=\"muted\">No attempt yet.</p>"
            : d.attempts.reversed().map { attempt($0, outputURL: outputURL) }.joined()
        let version = r.state.rawValue + ":" + d.attempts.map { "\($0.number)\($0.state.rawValue)" }.joined(separator: ",")
        let content = """
            <h1>Task <code>\(h(r.id))</code></h1>
            <div class="card" id="task-facts" data-live>\(factsHTML)<p>\(actions)</p></div>
            <p class="muted no-js">Without JavaScript this page does not refresh by itself: <a href="">reload</a>.</p>
            <h2>Attempts</h2>
            \(attempts)
            """
        return layout(title: "Task " + r.id, csrf: csrf, refresh: finished ? 0 : 2, version: version, content: content)
    }

    static func attempt(_ a: AttemptRecord, outputURL: (Int, AttemptStream) -> String) -> String {
        var facts: [(String, String)] = [
            ("State", h(a.state.rawValue) + (a.interruptedBy.map { " (by \(h($0.rawValue)))" } ?? "")),
            ("Classification", a.classification.map { h($0.rawValue) } ?? "–"),
            ("Started", h(time(a.startedAt))),
        ]
        if let e = a.endedAt { facts.append(("Ended", h(time(e)))) }
        if let note = a.note { facts.append(("Note", h(note))) }
        if let rep = a.exitReport {
            facts.append(("Exit class", "<span class=\"exit-class\">\(h(rep.exitClass.name))</span>" + exitDetail(rep)))
            facts.append(("Wall / CPU", h(seconds(rep.wallTime) + " / " + seconds(rep.cpuTime))))
            facts.append(("Peak memory", rep.peakMemoryBytes.map { h(bytes($0)) } ?? "–"))
            facts.append(("Output", h("stdout \(bytes(rep.stdoutBytes)), stderr \(bytes(rep.stderrBytes))")))
            let denied = rep.deniedSyscalls.sorted { $0.key < $1.key }
            facts.append(("Denied syscalls", denied.isEmpty ? "none"
                : "<table class=\"denied\"><tr><th>syscall</th><th class=\"num\">times</th></tr>"
                    + denied.map { "<tr><td>\(h($0.key))</td><td class=\"num\">\($0.value)</td></tr>" }.joined() + "</table>"))
            if !rep.unenforcedLimits.isEmpty {
                facts.append(("Limits not enforced", h(rep.unenforcedLimits.map { "\($0.limit.rawValue): \($0.reason)" }.joined(separator: "; "))))
            }
        }
        let running = a.state == .running
        func output(_ stream: AttemptStream, _ tail: RedactedOutput) -> String {
            let url = outputURL(a.number, stream)
            if running {
                return """
                    <h3>\(stream.rawValue)</h3>
                    <pre class="output" id="attempt-\(a.number)-\(stream.rawValue)" data-follow="\(h(url + "&follow=1"))"></pre>
                    <p class="muted no-js"><a href="\(h(url))">\(stream.rawValue) so far</a></p>
                    """
            }
            return "<h3>\(stream.rawValue)</h3><pre class=\"output\" id=\"attempt-\(a.number)-\(stream.rawValue)\">\(h(tail.text))</pre>"
        }
        return """
            <section class="card attempt" id="attempt-\(a.number)">
            <h3>Attempt \(a.number)</h3>
            <div id="attempt-\(a.number)-facts" data-live><dl class="facts">\(facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined())</dl></div>
            \(output(.stdout, a.stdout))\(output(.stderr, a.stderr))
            \(egress(a.egressLog))
            </section>
            """
    }

    /// The egress log's connections as a table.
    static func egress(_ log: String?) -> String {
        guard let log, let data = log.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "" }
        let connections = obj["connections"] as? [[String: Any]] ?? []
        func s(_ v: Any?) -> String { v.map { "\($0)" } ?? "" }
        let rows = connections.map { c in
            "<tr><td>\(h(s(c["host"]))):\(h(s(c["port"])))</td><td>\(h(s(c["outcome"])))</td><td>\(h(s(c["rule"])))</td>"
                + "<td class=\"num\">\(h(s(c["bytes_up"])))</td><td class=\"num\">\(h(s(c["bytes_down"])))</td></tr>"
        }.joined()
        let dropped = (obj["dropped_records"] as? Int).map { $0 > 0 ? "<p class=\"muted\">\($0) more not kept.</p>" : "" } ?? ""
        return """
            <h3>Egress</h3><table class="egress"><thead><tr><th>Destination</th><th>Decision</th><th>Rule</th>
            <th class="num">Bytes up</th><th class="num">Bytes down</th></tr></thead><tbody>\(rows.isEmpty ? "<tr><td colspan=\"5\" class=\"muted\">No connections.</td></tr>" : rows)</tbody></table>\(dropped)
            """
    }

    // MARK: - Formatting

    static func exitSummary(_ a: AttemptRecord) -> String {
        if let rep = a.exitReport { return h(rep.exitClass.name) + exitDetail(rep) }
        return h(a.classification?.rawValue ?? a.state.rawValue)
    }

    static func exitDetail(_ rep: ExitReport) -> String {
        switch rep.exitClass {
        case .exited(let code): return " <span class=\"muted\">(code \(code))</span>"
        case .signaled(let sig, _): return " <span class=\"muted\">(signal \(sig))</span>"
        case .setupFailed(let stage, _, let detail): return " <span class=\"muted\">(\(h(stage.name)): \(h(detail)))</span>"
        default: return ""
        }
    }

    static func title(_ spec: TaskSpec) -> String {
        switch spec.kind {
        case .fixIssue(_, let title, _): return title
        case .addressReviewComment(_, let body, _, _, _), .respondToMention(_, let body):
            return body.count > 80 ? String(body.prefix(80)) + "…" : body
        case .reviewPullRequest(let n): return "review of pull request #\(n)" + (spec.headSHA.map { " at " + $0.prefix(12) } ?? "")
        }
    }

    static func trigger(_ spec: TaskSpec) -> String {
        let n = spec.kind.targetNumber
        switch spec.kind {
        case .fixIssue: return "fix issue #\(n)"
        case .addressReviewComment: return "review on PR #\(n)"
        case .respondToMention: return "mention on #\(n)"
        case .reviewPullRequest: return "review of PR #\(n)"
        }
    }

    static func source(_ spec: TaskSpec) -> String {
        switch spec.source {
        case .api: return "task API"
        case .webhook(let id): return "webhook (delivery \(id))"
        }
    }

    static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "∞" }
        if s < 1 { return String(format: "%.0f ms", s * 1000) }
        if s < 60 { return String(format: "%.1f s", s) }
        if s < 3600 { return "\(Int(s) / 60) min \(Int(s) % 60) s" }
        return "\(Int(s) / 3600) h \(Int(s) % 3600 / 60) min"
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func time(_ d: Date) -> String {
        d.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
    }
}
