import Foundation
@testable import Adapter

/// Small webhook payloads modelled on real GitHub deliveries (same shapes and field
/// names, trimmed to what the adapter reads plus some of the noise around it).
/// Builders take the parts a test varies; everything is embedded so tests need no files.
enum WebhookFixtures {
    /// `s` as a JSON string literal.
    static func q(_ s: String?) -> String {
        guard let s else { return "null" }
        let data = try! JSONEncoder().encode(s)
        return String(decoding: data, as: UTF8.self)
    }

    static let repository = #"""
      "repository": {
        "id": 186853002,
        "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
        "name": "coven-code",
        "full_name": "OpenCoven/coven-code",
        "private": false,
        "owner": { "login": "OpenCoven", "id": 21031067, "type": "Organization", "site_admin": false },
        "html_url": "https://github.com/OpenCoven/coven-code",
        "clone_url": "https://github.com/OpenCoven/coven-code.git",
        "default_branch": "trunk"
      }
    """#

    static let installation = #"  "installation": { "id": 987654, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==" }"#

    static func user(_ login: String, type: String = "User") -> String {
        #"{ "login": \#(q(login)), "id": 583231, "type": \#(q(type)), "site_admin": false }"#
    }

    static func issue(number: Int = 42, title: String = "Fix OAuth token refresh",
                      body: String? = "The refresh path drops clock skew.", isPR: Bool = false) -> String {
        let pr = isPR ? #""pull_request": { "url": "https://api.github.com/repos/OpenCoven/coven-code/pulls/\#(number)", "html_url": "https://github.com/OpenCoven/coven-code/pull/\#(number)" },"# : ""
        return #"""
          "issue": {
            "url": "https://api.github.com/repos/OpenCoven/coven-code/issues/\#(number)",
            "number": \#(number),
            "title": \#(q(title)),
            "user": \#(user("octocat")),
            "labels": [],
            "state": "open",
            "assignees": [],
            \#(pr)
            "comments": 0,
            "body": \#(q(body))
          }
        """#
    }

    static func pullRequest(number: Int = 73) -> String {
        #"""
          "pull_request": {
            "url": "https://api.github.com/repos/OpenCoven/coven-code/pulls/\#(number)",
            "number": \#(number),
            "state": "open",
            "title": "Add clock-skew buffer to token refresh",
            "user": \#(user("coven-cody[bot]", type: "Bot")),
            "head": { "label": "OpenCoven:fix-refresh", "ref": "fix-refresh", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821" },
            "base": { "label": "OpenCoven:trunk", "ref": "trunk", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" }
          }
        """#
    }

    static func issuesAssigned(assignee: String, isPR: Bool = false) -> String {
        #"""
        {
          "action": "assigned",
        \#(issue(isPR: isPR)),
          "assignee": \#(user(assignee, type: assignee.hasSuffix("[bot]") ? "Bot" : "User")),
        \#(repository),
        \#(installation),
          "sender": \#(user("octocat"))
        }
        """#
    }

    static func issuesLabeled(label: String) -> String {
        #"""
        {
          "action": "labeled",
        \#(issue(title: "Fix the spell compiler", body: "It loses sigils on nested casts.")),
          "label": { "id": 1362934389, "name": \#(q(label)), "color": "5319e7", "default": false },
        \#(repository),
        \#(installation),
          "sender": \#(user("octocat"))
        }
        """#
    }

    static func issuesAction(_ action: String) -> String {
        #"""
        {
          "action": \#(q(action)),
        \#(issue()),
        \#(repository),
          "sender": \#(user("octocat"))
        }
        """#
    }

    static func issueComment(body: String?, author: String = "octocat", authorType: String = "User",
                             onPR: Bool = false, action: String = "created", withInstallation: Bool = true) -> String {
        #"""
        {
          "action": \#(q(action)),
        \#(issue(number: onPR ? 73 : 42, isPR: onPR)),
          "comment": {
            "url": "https://api.github.com/repos/OpenCoven/coven-code/issues/comments/1122334455",
            "id": 1122334455,
            "user": \#(user(author, type: authorType)),
            "created_at": "2019-05-15T15:20:21Z",
            "author_association": "OWNER",
            "body": \#(q(body))
          },
        \#(repository),
        \#(withInstallation ? installation + "," : "")
          "sender": \#(user(author, type: authorType))
        }
        """#
    }

    static func reviewSubmitted(body: String?, author: String = "octocat", action: String = "submitted") -> String {
        #"""
        {
          "action": \#(q(action)),
          "review": {
            "id": 5566778899,
            "user": \#(user(author, type: author.hasSuffix("[bot]") ? "Bot" : "User")),
            "body": \#(q(body)),
            "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "state": "changes_requested"
          },
        \#(pullRequest()),
        \#(repository),
        \#(installation),
          "sender": \#(user(author))
        }
        """#
    }

    static let diffHunk = "@@ -10,3 +10,5 @@\n-    if now > expiry {\n+    if now >= expiry {"

    static func reviewComment(body: String, author: String = "octocat", action: String = "created",
                              line: Int? = 12) -> String {
        #"""
        {
          "action": \#(q(action)),
          "comment": {
            "id": 6677889900,
            "pull_request_review_id": 5566778899,
            "diff_hunk": \#(q(diffHunk)),
            "path": "src/auth/refresh.rs",
            "position": 3,
            "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "user": \#(user(author, type: author.hasSuffix("[bot]") ? "Bot" : "User")),
            "body": \#(q(body)),
            "line": \#(line.map(String.init) ?? "null"),
            "original_line": 12,
            "side": "RIGHT"
          },
        \#(pullRequest()),
        \#(repository),
        \#(installation),
          "sender": \#(user(author))
        }
        """#
    }

    static let ping = #"""
    {
      "zen": "Non-blocking is better than blocking.",
      "hook_id": 44556677,
      "hook": { "type": "App", "id": 44556677, "active": true, "events": ["issues", "issue_comment"] },
      "repository": { "name": "coven-code", "owner": { "login": "OpenCoven" } },
      "sender": { "login": "octocat", "type": "User" }
    }
    """#

    static let push = #"""
    {
      "ref": "refs/heads/trunk",
      "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
      "after": "0000000000000000000000000000000000000000",
    \#(repository),
      "pusher": { "name": "octocat", "email": "octocat@example.com" },
      "sender": { "login": "octocat", "type": "User" }
    }
    """#
}

extension String {
    var utf8Data: Data { Data(utf8) }
}
