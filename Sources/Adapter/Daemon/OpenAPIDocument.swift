import Foundation

/// The OpenAPI 3.1 description of the daemon's HTTP interface (task API, webhook, health,
/// metrics), served at `/api/openapi.json`. This literal is the source; docs/openapi.json
/// is its copy (`make openapi` writes it), and tests hold both to the router's routes.
public enum OpenAPIDocument {
    public static let path = "/api/openapi.json"
    /// The document's bytes, as served (made once).
    public static let data = Data(json.utf8)

    /// Routes the router has that the document leaves out on purpose: HTML pages for
    /// people, and local mode's git smart-HTTP for sandboxes.
    public static let undocumentedRoutes: Set<String> = [
        // The dashboard (Sources/Adapter/Dashboard): HTML forms behind a session cookie.
        "GET /", "GET /login", "POST /login", "POST /logout", "POST /tasks", "GET /tasks/{id}",
        "POST /tasks/{id}/cancel", "POST /tasks/{id}/retry", "GET /ui/tasks/{id}/attempts/{n}/output",
        "GET /assets/dashboard.css", "GET /assets/dashboard.js",
        "GET /git/{owner}/{repo}/info/refs", "POST /git/{owner}/{repo}/git-upload-pack",
        "POST /git/{owner}/{repo}/git-receive-pack",
    ]

    public static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "coven-supervisor",
    "version": "1.0.0",
    "description": "The daemon's HTTP interface: GitHub webhooks in, the task API for operators, health and metrics. Every request body is framed by Content-Length or chunked transfer coding, at most 25 MiB. Errors of the HTTP layer itself (malformed requests, unknown routes, wrong methods, oversize bodies, the listener's limits) are text/plain; the routes' own errors are JSON objects {\"ok\": false, \"error\": ...}.",
    "license": { "name": "see the repository" }
  },
  "servers": [{ "url": "http://127.0.0.1:8787" }],
  "components": {
    "securitySchemes": {
      "bearer": { "type": "http", "scheme": "bearer", "description": "The task API token (api.token_path; local mode: <state>/api-token)." }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["ok", "error"],
        "properties": { "ok": { "const": false }, "error": { "type": "string" } }
      },
      "TaskState": { "type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled"] },
      "Repo": {
        "type": "object",
        "required": ["owner", "name", "clone_url", "default_branch"],
        "properties": {
          "owner": { "type": "string", "minLength": 1 },
          "name": { "type": "string", "minLength": 1 },
          "clone_url": { "type": "string" },
          "default_branch": { "type": "string" }
        }
      },
      "Familiar": {
        "type": "object",
        "required": ["id", "display_name"],
        "properties": {
          "id": { "type": "string" },
          "display_name": { "type": "string" },
          "model": { "type": "string" },
          "skills": { "type": "array", "items": { "type": "string" } }
        }
      },
      "TaskKind": {
        "type": "object",
        "required": ["kind"],
        "properties": {
          "kind": { "type": "string", "enum": ["fix_issue", "address_review_comment", "respond_to_mention", "review_pull_request"] },
          "issue_number": { "type": "integer" },
          "issue_title": { "type": "string" },
          "issue_body": { "type": "string" },
          "pr_number": { "type": "integer" },
          "comment_body": { "type": "string" },
          "diff_hunk": { "type": "string" },
          "path": { "type": "string" },
          "line": { "type": "integer" }
        }
      },
      "TaskSpec": {
        "type": "object",
        "description": "A task as docs/contract.md describes it; id (generated), source and trigger may be left out.",
        "required": ["repo", "task", "familiar"],
        "properties": {
          "id": { "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$" },
          "installation_id": { "type": "integer" },
          "repo": { "$ref": "#/components/schemas/Repo" },
          "trigger": { "type": "string", "enum": ["issue_assigned", "pr_review_comment", "issue_mention"] },
          "task": { "$ref": "#/components/schemas/TaskKind" },
          "familiar": { "$ref": "#/components/schemas/Familiar" },
          "head_ref": { "type": "string" },
          "head_sha": { "type": "string" },
          "contract_version": { "type": "integer", "enum": [1, 2] }
        }
      },
      "TaskSummary": {
        "type": "object",
        "required": ["id", "state", "created_at", "updated_at", "attempt_count", "repo", "kind", "number", "familiar"],
        "properties": {
          "id": { "type": "string" },
          "state": { "$ref": "#/components/schemas/TaskState" },
          "created_at": { "type": "string" },
          "updated_at": { "type": "string" },
          "attempt_count": { "type": "integer", "minimum": 0 },
          "repo": { "type": "string" },
          "kind": { "type": "string" },
          "number": { "type": "integer" },
          "familiar": { "type": "string" },
          "disposition": { "type": "string" },
          "reason": { "type": "string" }
        }
      },
      "ExitReport": {
        "type": "object",
        "required": ["class", "wall_time_s", "cpu_time_s"],
        "properties": {
          "class": { "type": "string" },
          "wall_time_s": { "type": "number" },
          "cpu_time_s": { "type": "number" },
          "peak_memory_bytes": { "type": "integer" },
          "exit_code": { "type": "integer" },
          "signal": { "type": "integer" },
          "denied_syscalls": { "type": "object", "additionalProperties": { "type": "integer" } }
        }
      },
      "Attempt": {
        "type": "object",
        "required": ["number", "state", "started_at", "stdout_bytes", "stderr_bytes"],
        "properties": {
          "number": { "type": "integer", "minimum": 1 },
          "state": { "type": "string", "enum": ["running", "finished", "interrupted"] },
          "started_at": { "type": "string" },
          "ended_at": { "type": "string" },
          "classification": { "type": "string" },
          "interrupted_by": { "type": "string" },
          "note": { "type": "string" },
          "exit_report": { "$ref": "#/components/schemas/ExitReport" },
          "stdout_tail": { "type": "string" },
          "stderr_tail": { "type": "string" },
          "stdout_bytes": { "type": "integer" },
          "stderr_bytes": { "type": "integer" },
          "egress": {}
        }
      },
      "TaskDetail": {
        "type": "object",
        "required": ["id", "state", "created_at", "updated_at", "attempt_count", "task", "attempts"],
        "properties": {
          "id": { "type": "string" },
          "state": { "$ref": "#/components/schemas/TaskState" },
          "created_at": { "type": "string" },
          "updated_at": { "type": "string" },
          "attempt_count": { "type": "integer", "minimum": 0 },
          "task": { "type": "object" },
          "disposition": { "type": "string" },
          "reason": { "type": "string" },
          "result": { "type": "object" },
          "cancel_requested": { "type": "boolean" },
          "attempts": { "type": "array", "items": { "$ref": "#/components/schemas/Attempt" } }
        }
      }
    },
    "parameters": {
      "TaskID": { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }
    },
    "responses": {
      "BadRequest": {
        "description": "Malformed: a JSON error from the route, or text from the HTTP layer (bad framing, bad path escapes).",
        "content": {
          "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
          "text/plain": { "schema": { "type": "string" } }
        }
      },
      "Unauthorized": {
        "description": "No bearer token, or the wrong one.",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
      },
      "APIOff": {
        "description": "The task API is off: no api.token_path configured.",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
      },
      "NotFound": {
        "description": "No such task (JSON), or no such route (text).",
        "content": {
          "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
          "text/plain": { "schema": { "type": "string" } }
        }
      },
      "Conflict": {
        "description": "The task's state does not allow it.",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
      },
      "TooLarge": {
        "description": "The body is over 25 MiB.",
        "content": { "text/plain": { "schema": { "type": "string" } } }
      },
      "StoreFailed": {
        "description": "The task store failed; try again.",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
      },
      "Busy": {
        "description": "The listener's limits (memory budget, connections); retry after Retry-After.",
        "headers": { "Retry-After": { "schema": { "type": "string" } } },
        "content": {
          "text/plain": { "schema": { "type": "string" } },
          "application/json": { "schema": { "$ref": "#/components/schemas/Error" } }
        }
      }
    }
  },
  "paths": {
    "/webhook": {
      "post": {
        "operationId": "deliverWebhook",
        "summary": "A GitHub webhook delivery",
        "description": "X-Hub-Signature-256 is checked first (HMAC-SHA256 of the body with the webhook secret); a delivery is stored with its task before the answer.",
        "parameters": [
          { "name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": { "type": "string" } },
          { "name": "X-GitHub-Event", "in": "header", "required": true, "schema": { "type": "string" } },
          { "name": "X-GitHub-Delivery", "in": "header", "required": true, "schema": { "type": "string" } }
        ],
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } } } },
        "responses": {
          "200": {
            "description": "A ping, a delivery that asks for nothing (or of an installation, repository or familiar installations[] does not serve: ignored, with the reason), a redelivery, a repeated trigger joining its task (coalesced), a task its installation's daily limit refused (refused, with the limit), or an uninstall (purged, with the counts).",
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok"],
              "properties": { "ok": { "const": true }, "pong": { "type": "boolean" }, "ignored": { "type": "string" }, "duplicate": { "type": "boolean" },
                              "task_id": { "type": "string" }, "coalesced": { "type": "boolean" }, "refused": { "type": "string" },
                              "purged": { "type": "object", "properties": { "installation": { "type": "integer" }, "tasks": { "type": "integer" },
                                          "attempts": { "type": "integer" }, "deliveries": { "type": "integer" }, "usage_days": { "type": "integer" } } } }
            } } }
          },
          "202": {
            "description": "A new task, stored (queued_after: it runs once that live task of the same work ends); or a maintainer's command, answered in a comment.",
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok"],
              "properties": { "ok": { "const": true }, "task_id": { "type": "string" }, "queued_after": { "type": "string" },
                              "command": { "type": "string" } }
            } } }
          },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": {
            "description": "A missing, malformed or wrong signature; nothing is stored.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
          },
          "404": {
            "description": "Webhooks are off (no github section in the configuration).",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
          },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "500": { "$ref": "#/components/responses/StoreFailed" },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    },
    "/api/tasks": {
      "get": {
        "operationId": "listTasks",
        "summary": "Tasks, newest first",
        "security": [{ "bearer": [] }],
        "parameters": [
          { "name": "state", "in": "query", "schema": { "$ref": "#/components/schemas/TaskState" } },
          { "name": "repo", "in": "query", "description": "OWNER/NAME", "schema": { "type": "string", "pattern": "^[^/]+/[^/]+$" } },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } }
        ],
        "responses": {
          "200": {
            "description": "The tasks.",
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok", "tasks"],
              "properties": { "ok": { "const": true }, "tasks": { "type": "array", "items": { "$ref": "#/components/schemas/TaskSummary" } } }
            } } }
          },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthorized" },
          "403": { "$ref": "#/components/responses/APIOff" },
          "500": { "$ref": "#/components/responses/StoreFailed" },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      },
      "post": {
        "operationId": "submitTask",
        "summary": "Submit a task",
        "description": "Validated as webhook tasks are; a wrong token is refused from the request head, before the body is read.",
        "security": [{ "bearer": [] }],
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TaskSpec" } } } },
        "responses": {
          "201": {
            "description": "Queued.",
            "headers": { "Location": { "schema": { "type": "string" } } },
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok", "task_id"],
              "properties": { "ok": { "const": true }, "task_id": { "type": "string" } }
            } } }
          },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthorized" },
          "403": { "$ref": "#/components/responses/APIOff" },
          "409": { "$ref": "#/components/responses/Conflict" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "500": { "$ref": "#/components/responses/StoreFailed" },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    },
    "/api/tasks/{id}": {
      "get": {
        "operationId": "showTask",
        "summary": "One task with every attempt, its exit report and redacted output tails",
        "security": [{ "bearer": [] }],
        "parameters": [{ "$ref": "#/components/parameters/TaskID" }],
        "responses": {
          "200": { "description": "The task.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TaskDetail" } } } },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthorized" },
          "403": { "$ref": "#/components/responses/APIOff" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "500": { "$ref": "#/components/responses/StoreFailed" },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    },
    "/api/tasks/{id}/cancel": {
      "post": {
        "operationId": "cancelTask",
        "summary": "Cancel a queued task, or tear down its running attempt",
        "security": [{ "bearer": [] }],
        "parameters": [{ "$ref": "#/components/parameters/TaskID" }],
        "responses": {
          "200": {
            "description": "Cancelled.",
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok", "task_id", "state"],
              "properties": { "ok": { "const": true }, "task_id": { "type": "string" }, "state": { "const": "cancelled" } }
            } } }
          },
          "202": {
            "description": "Its running attempt is being torn down.",
            "content": { "application/json": { "schema": {
              "type": "object", "required": ["ok", "task_id", "state", "attempt"],
              "properties": { "ok": { "const": true }, "task_id": { "type": "string" }, "state": { "const": "cancelling" }, "attempt": { "type": "integer" } }
            } } }
          },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthorized" },
          "403": { "$ref": "#/components/responses/APIOff" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "409": { "$ref": "#/components/responses/Conflict" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "500": { "$ref": "#/components/responses/StoreFailed" },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    },
    "/api/tasks/{id}/retry": {
      "post": {
        "operationId": "retryTask",
        "summary": "Queue a finished task again under its id (its attempts are kept)",
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/TaskID"
          }
        ],
        "responses": {
          "202": {
            "description": "Queued again.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": [
                    "ok",
                    "task_id",
                    "state"
                  ],
                  "properties": {
                    "ok": {
                      "const": true
                    },
                    "task_id": {
                      "type": "string"
                    },
                    "state": {
                      "const": "queued"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/APIOff"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "500": {
            "$ref": "#/components/responses/StoreFailed"
          },
          "503": {
            "$ref": "#/components/responses/Busy"
          }
        }
      }
    },
    "/api/tasks/{id}/attempts/{n}/output": {
      "get": {
        "operationId": "attemptOutput",
        "summary": "An attempt's output, redacted; with follow=1 streamed until the attempt ends",
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/TaskID"
          },
          {
            "name": "n",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "minimum": 1
            }
          },
          {
            "name": "stream",
            "in": "query",
            "schema": {
              "type": "string",
              "enum": [
                "stdout",
                "stderr"
              ],
              "default": "stdout"
            }
          },
          {
            "name": "follow",
            "in": "query",
            "schema": {
              "type": "string",
              "enum": [
                "0",
                "1"
              ]
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The output (chunked while it is followed).",
            "headers": { "X-Coven-Attempt-State": { "schema": { "type": "string", "enum": ["running", "finished", "interrupted"] } } },
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/APIOff"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "500": {
            "$ref": "#/components/responses/StoreFailed"
          },
          "503": {
            "$ref": "#/components/responses/Busy"
          }
        }
      }
    },
    "/api/installations/{id}/usage": {
      "get": {
        "operationId": "installationUsage",
        "summary": "An installation's usage per UTC day (newest first) and its configured limits",
        "security": [
          {
            "bearer": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "minimum": 1
            }
          },
          {
            "name": "days",
            "in": "query",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 366,
              "default": 30
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The usage; no days when the installation used nothing.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": ["ok", "installation_id", "days"],
                  "properties": {
                    "ok": { "const": true },
                    "installation_id": { "type": "integer" },
                    "days": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "required": ["day", "tasks", "attempts", "wall_seconds", "cpu_seconds", "peak_memory_bytes", "egress_bytes"],
                        "properties": {
                          "day": { "type": "string", "format": "date" },
                          "tasks": { "type": "integer", "description": "tasks accepted, on the day they may start" },
                          "attempts": { "type": "integer" },
                          "wall_seconds": { "type": "number" },
                          "cpu_seconds": { "type": "number" },
                          "peak_memory_bytes": { "type": "integer", "description": "the day's largest attempt peak" },
                          "egress_bytes": { "type": "integer" }
                        }
                      }
                    },
                    "limits": {
                      "type": "object",
                      "properties": {
                        "max_concurrent": { "type": "integer" },
                        "max_tasks_per_day": { "type": "integer" },
                        "max_attempt_minutes_per_day": { "type": "integer" },
                        "over_limit": { "type": "string", "enum": ["queue", "refuse"] }
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/APIOff"
          },
          "500": {
            "$ref": "#/components/responses/StoreFailed"
          },
          "503": {
            "$ref": "#/components/responses/Busy"
          }
        }
      }
    },
    "/api/openapi.json": {
      "get": {
        "operationId": "openAPIDocument",
        "summary": "This document",
        "responses": {
          "200": { "description": "The OpenAPI document.", "content": { "application/json": { "schema": { "type": "object" } } } },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    },
    "/healthz": {
      "get": {
        "operationId": "health",
        "summary": "200 while the task store answers",
        "responses": {
          "200": { "description": "Healthy.", "content": { "application/json": { "schema": {
            "type": "object", "required": ["ok"], "properties": { "ok": { "const": true } } } } } },
          "503": {
            "description": "The task store does not answer, or the listener is at its limits.",
            "content": {
              "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
              "text/plain": { "schema": { "type": "string" } }
            }
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus text exposition",
        "responses": {
          "200": { "description": "The metrics.", "content": { "text/plain": { "schema": { "type": "string" } } } },
          "503": { "$ref": "#/components/responses/Busy" }
        }
      }
    }
  }
}
"""#
}
