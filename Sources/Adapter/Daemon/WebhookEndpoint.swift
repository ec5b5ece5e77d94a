import Foundation
import HTTP
import Supervisor
import COpenSSL

/// `POST /webhook`: GitHub deliveries in, tasks durably queued before the answer.
///
/// Order, and why:
/// 1. `X-Hub-Signature-256` first: missing or malformed → 401 from the head alone, before
///    any of the body is read; otherwise the HMAC is computed while the body streams in
///    (within the server's body budget) and a mismatch → 401. Nothing is parsed or stored
///    (an unauthenticated sender learns nothing and costs little).
/// 2. Missing `X-GitHub-Event` / `X-GitHub-Delivery`, a body that is not the event's
///    JSON, or a task that `TaskValidation` refuses (e.g. a negative issue number) → 400,
///    nothing stored (GitHub does not retry 4xx, and shows the error in the App's delivery
///    log; a malformed delivery will not improve).
/// 3. `ping` → 200 `{"ok":true,"pong":true}`; nothing stored.
/// 4. The delivery (id, event, SHA-256 of the body — never the body) and its task, if
///    any, are committed in one transaction *before* answering: new task → 202 with its
///    id (then the supervisor is woken); nothing to do → 200 with the reason; a delivery
///    id seen before → 200 `duplicate`, nothing created (GitHub redelivers on timeouts
///    and on request). A task for an issue or PR that already has a queued or running
///    task of the same kind (same familiar) and no new instructions (comment body) is
///    coalesced into it in the same transaction → 200 `{"ok":true,"task_id":<that
///    task>,"coalesced":true}`, logged `webhook_coalesced`; with new instructions it is
///    queued to run after that task → 202 with `queued_after`. A review of a newer
///    commit supersedes the live reviews of the same PR: 202 with `superseded`, queued
///    ones cancelled at once, running ones torn down (`cancel`), each logged
///    `review_superseded`.
/// 5. The store fails → 500, so GitHub retries the delivery later.
///
/// With `installations[]` configured (`InstallationPolicy`), a delivery of an installation,
/// repository or familiar it does not serve is recorded and answered 200 "ignored" with
/// the reason; a task its installation's daily limit refuses is stored cancelled and
/// answered 200 `{"ok":true,"task_id":…,"refused":<reason>}`. A maintainer's command is
/// recorded, answered 202 `{"ok":true,"command":<verb>}` and handed to the
/// `CommandResponder`. `installation.deleted` purges the installation (200 with the
/// counts, logged `installation_purged`; nothing is recorded of the delivery itself, whose
/// record the purge would remove).
public final class WebhookEndpoint: Sendable {
    public typealias Log = @Sendable (String, [String: String]) -> Void

    private let secret: [UInt8]
    private let familiars: [FamiliarConfig]
    private let store: TaskStore
    private let announce: @Sendable (TaskSpec) -> Void
    private let cancel: @Sendable (String) -> Void
    private let metrics: DaemonMetrics?
    private let log: Log
    private let policy: InstallationPolicy
    private let commands: CommandResponder?
    private let purge: @Sendable (Int64) throws -> InstallationPurge

    /// - Parameters:
    ///   - secret: the webhook secret's bytes.
    ///   - announce: called after a new task was committed (e.g. `TaskSupervisor.announce`).
    ///   - commands: carries out maintainers' commands; nil answers them "ignored".
    ///   - purge: removes an uninstalled installation (default: the store's purge alone).
    ///   - cancel: tears down a running task superseded by a newer review (e.g. `TaskSupervisor.cancel`).
    public init(secret: [UInt8], familiars: [FamiliarConfig], store: TaskStore,
                metrics: DaemonMetrics? = nil, log: @escaping Log = { _, _ in },
                policy: InstallationPolicy = InstallationPolicy(), commands: CommandResponder? = nil,
                purge: (@Sendable (Int64) throws -> InstallationPurge)? = nil,
                announce: @escaping @Sendable (TaskSpec) -> Void,
                cancel: @escaping @Sendable (String) -> Void = { _ in }) {
        self.policy = policy
        self.commands = commands
        self.purge = purge ?? { try store.purgeInstallation($0) }
        self.secret = secret
        self.familiars = familiars
        self.store = store
        self.metrics = metrics
        self.log = log
        self.announce = announce
        self.cancel = cancel
    }

    /// Adds `POST /webhook` to `router`, with the signature checked as the body arrives.
    public func register(on router: inout Router, path: String = "/webhook") {
        router.post(path, head: { [self] request in inspect(request) }) { [self] request in handle(request) }
    }

    /// The head handler: refuses a delivery whose signature header cannot be valid without
    /// reading its body, else verifies the body's HMAC as it streams in.
    public func inspect(_ request: HTTPRequest) -> HTTPHeadDecision {
        switch WebhookSignature.parse(header: request.headers[WebhookSignature.headerName]) {
        case .success(let given):
            return .observe(WebhookSignature.Verifier(secret: secret, given: given))
        case .failure(let why):
            let response = unauthorized(request, why)
            metrics?.countWebhookResponse(status: response.status)
            return .respond(response)
        }
    }

    private func unauthorized(_ request: HTTPRequest, _ why: WebhookSignature.Failure) -> HTTPResponse {
        let logID = Self.safeLogValue(request.headers[WebhookIntake.deliveryHeader] ?? "")
        log("webhook_rejected", ["delivery": logID, "github_event": Self.safeLogValue(request.headers[WebhookIntake.eventHeader] ?? ""),
                                 "status": "401", "reason": why.description, "remote": request.remoteAddress])
        return Self.reply(401, ["ok": false, "error": why.description])
    }

    /// Answers one delivery (counted in the metrics by status).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let response = decide(request)
        metrics?.countWebhookResponse(status: response.status)
        return response
    }

    private func decide(_ request: HTTPRequest) -> HTTPResponse {
        let delivery = request.headers[WebhookIntake.deliveryHeader] ?? ""
        let logID = Self.safeLogValue(delivery)

        // 1. Authenticity before anything else: the streamed verdict when the server ran
        // `inspect`, else (a direct call) the whole body's.
        let verdict = (request.bodyObserver as? WebhookSignature.Verifier)?.verdict()
            ?? WebhookSignature.verify(body: request.body, header: request.headers[WebhookSignature.headerName], secret: secret)
        if case .failure(let why) = verdict { return unauthorized(request, why) }

        // 2. Headers and payload.
        let decision: WebhookDecision
        do {
            decision = try WebhookIntake.decide(event: request.headers[WebhookIntake.eventHeader], deliveryID: delivery,
                                                body: request.body, familiars: familiars, policy: policy)
        } catch {
            log("webhook_rejected", ["delivery": logID, "github_event": Self.safeLogValue(request.headers[WebhookIntake.eventHeader] ?? ""),
                                     "status": "400", "reason": error.description])
            return Self.reply(400, ["ok": false, "error": error.description])
        }
        let event = Self.trimmed(request.headers[WebhookIntake.eventHeader] ?? "")
        let deliveryID = Self.trimmed(delivery)
        // The task API's validation: a task no attempt could run is refused, not queued.
        if case .task(let spec, let qualified) = decision {
            do { try TaskValidation.validate(spec) } catch {
                log("webhook_rejected", ["delivery": logID, "github_event": qualified, "status": "400", "reason": error.description])
                return Self.reply(400, ["ok": false, "error": error.description])
            }
        }

        // 3–5. Durable record before the answer.
        let hash = Self.sha256Hex(request.body)
        func ignore(_ reason: IgnoreReason) throws -> HTTPResponse {
            let r = try store.recordDelivery(deliveryID: deliveryID, event: event, payloadSHA256: hash,
                                             outcome: .ignored(reason: reason.description), task: nil,
                                             installationID: Self.installationID(request.body))
            if r == .duplicate {
                log("webhook_duplicate", ["delivery": logID, "github_event": event])
                return Self.reply(200, ["ok": true, "duplicate": true])
            }
            log("webhook_ignored", ["delivery": logID, "github_event": event, "reason": reason.description])
            return Self.reply(200, ["ok": true, "ignored": reason.description])
        }
        do {
            switch decision {
            case .ping:
                log("webhook_ping", ["delivery": logID, "github_event": "ping"])
                return Self.reply(200, ["ok": true, "pong": true])
            case .purgeInstallation(let id):
                let p = try purge(id)
                log("installation_purged", ["delivery": logID, "github_event": "installation.deleted", "installation": String(id),
                                            "tasks": String(p.tasks), "attempts": String(p.attempts),
                                            "deliveries": String(p.deliveries), "publications": String(p.publications),
                                            "usage_days": String(p.usageDays)])
                return Self.reply(200, ["ok": true, "purged": ["installation": id, "tasks": p.tasks, "attempts": p.attempts,
                                                               "deliveries": p.deliveries, "usage_days": p.usageDays]])
            case .command(let command, let qualified):
                guard let commands else {
                    return try ignore(.unhandledAction(event: qualified, action: "command (commands need the GitHub App)"))
                }
                let r = try store.recordDelivery(deliveryID: deliveryID, event: qualified, payloadSHA256: hash,
                                                 outcome: .ignored(reason: "maintainer command \(CommandReplies.safe(command.word)): answered in a comment"),
                                                 task: nil, installationID: command.installationID)
                if r == .duplicate {
                    log("webhook_duplicate", ["delivery": logID, "github_event": qualified])
                    return Self.reply(200, ["ok": true, "duplicate": true])
                }
                log("webhook_command", ["delivery": logID, "github_event": qualified, "verb": CommandReplies.safe(command.word),
                                        "repo": "\(command.repo.owner)/\(command.repo.name)", "number": String(command.number),
                                        "familiar": command.familiar.id])
                commands.submit(command)
                return Self.reply(202, ["ok": true, "command": CommandReplies.safe(command.word)])
            case .ignored(let reason):
                return try ignore(reason)
            case .task(let spec, let qualified):
                let r = try store.recordDelivery(deliveryID: deliveryID, event: qualified, payloadSHA256: hash,
                                                 outcome: .queued(taskID: spec.id), task: spec)
                var fields = ["delivery": logID, "github_event": qualified, "repo": "\(spec.repo.owner)/\(spec.repo.name)",
                              "familiar": spec.familiar.id, "target": String(spec.kind.targetNumber), "kind": spec.kind.name]
                switch r {
                case .duplicate:
                    log("webhook_duplicate", ["delivery": logID, "github_event": qualified])
                    return Self.reply(200, ["ok": true, "duplicate": true])
                case .coalesced(let existing):
                    fields["task"] = existing
                    log("webhook_coalesced", fields)
                    announce(spec)   // the existing task's status is published again, with the count
                    return Self.reply(200, ["ok": true, "task_id": existing, "coalesced": true])
                case .queuedAfter(let previous):
                    fields["task"] = spec.id
                    fields["after"] = previous
                    log("webhook_queued", fields)
                    announce(spec)
                    return Self.reply(202, ["ok": true, "task_id": spec.id, "queued_after": previous])
                case .inserted:
                    fields["task"] = spec.id
                    log("webhook_queued", fields)
                    announce(spec)
                    return Self.reply(202, ["ok": true, "task_id": spec.id])
                case .superseding(let queued, let running):
                    fields["task"] = spec.id
                    log("webhook_queued", fields)
                    for old in queued + running {
                        log("review_superseded", ["task": old, "by_task": spec.id, "by_sha": spec.headSHA ?? "-",
                                                  "running": running.contains(old) ? "true" : "false"])
                    }
                    for old in running { cancel(old) }
                    announce(spec)
                    return Self.reply(202, ["ok": true, "task_id": spec.id, "superseded": queued + running])
                case .refused(let id, let reason):
                    fields["task"] = id
                    fields["reason"] = reason
                    log("webhook_refused", fields)
                    announce(spec)   // its status comment says which limit
                    return Self.reply(200, ["ok": true, "task_id": id, "refused": reason])
                }
            }
        } catch {
            log("webhook_store_failed", ["delivery": logID, "github_event": event, "error": Redactor.redactShapes("\(error)")])
            return Self.reply(500, ["ok": false, "error": "could not record the delivery; retry later"])
        }
    }

    /// `installation.id` of a payload, if it has one (an ignored delivery is kept with it, so
    /// an uninstall purges it too).
    static func installationID(_ body: Data) -> Int64? {
        struct Envelope: Decodable { var installation: GitHubInstallation? }
        return (try? JSONDecoder().decode(Envelope.self, from: body))?.installation?.id
    }

    /// A JSON answer: written by hand when it holds only strings and booleans (every
    /// answer on the hot paths; see `JSONLiteral`), else by `JSONSerialization`.
    static func reply(_ status: Int, _ object: KeyValuePairs<String, Any>) -> HTTPResponse {
        var fields: [(key: String, value: JSONLiteral.Value)] = []
        for (k, v) in object {
            switch v {
            case let b as Bool: fields.append((k, .bool(b)))
            case let s as String: fields.append((k, .string(s)))
            default:
                return HTTPResponse.json(status, Dictionary(object.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
            }
        }
        return HTTPResponse.json(status, data: Data(JSONLiteral.object(fields)))
    }

    /// Header values without surrounding whitespace. The parser has already stripped
    /// the spaces and tabs HTTP allows there, so the Unicode-aware trim (slow on Linux)
    /// runs only when an end is not plain ASCII.
    static func trimmed(_ s: String) -> String {
        guard let first = s.utf8.first, let last = s.utf8.last else { return s }
        func plain(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7f }
        return plain(first) && plain(last) ? s : s.trimmingCharacters(in: .whitespaces)
    }

    /// A header value fit for a log line: short, printable ASCII only.
    static func safeLogValue(_ s: String) -> String {
        if !s.isEmpty, s.utf8.count <= 80, s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return s }
        let clean = String(s.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }.prefix(80).map(Character.init))
        return clean.isEmpty ? "-" : clean
    }

    /// Lowercase hex SHA-256 (what the store keeps instead of the body).
    public static func sha256Hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { raw in
            _ = SHA256(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, &digest)
        }
        return Hex.encode(digest)
    }
}

extension WebhookSignature.Verifier: HTTPBodyObserver {
    public func consume(_ bytes: UnsafeRawBufferPointer) { update(bytes) }
}
