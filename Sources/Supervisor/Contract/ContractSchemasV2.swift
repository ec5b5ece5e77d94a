// The headless contract v2 schemas, embedded so validation needs no files at run time.
// Exact copies of shared/contracts/v2/{session-brief,result}.schema.json;
// ContractSchemaTests checks they still equal the shared files when those are present.
// Regenerate by pasting the files between the delimiters (they contain no `"""#`).

extension ContractSchemas {
    /// shared/contracts/v2/session-brief.schema.json
    public static let sessionBriefV2 = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/OpenCoven/coven-github/docs/contracts/session-brief.schema.json",
  "title": "coven-code headless session brief",
  "description": "Tokenless read-context payload the adapter writes for coven-code --headless --context. Contract version 2.",
  "type": "object",
  "additionalProperties": false,
  "required": ["contract_version", "trigger", "repo", "task", "familiar", "workspace"],
  "properties": {
    "contract_version": {
      "type": "string",
      "const": "2"
    },
    "trigger": {
      "type": "string",
      "enum": ["issue_assigned", "pr_review_comment", "issue_mention"]
    },
    "repo": {
      "type": "object",
      "additionalProperties": false,
      "required": ["owner", "name", "clone_url", "default_branch"],
      "properties": {
        "owner": { "type": "string" },
        "name": { "type": "string" },
        "clone_url": {
          "type": "string",
          "description": "HTTPS clone URL without embedded credentials.",
          "not": { "pattern": "@" }
        },
        "default_branch": { "type": "string" }
      }
    },
    "task": {
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["kind", "issue_number", "issue_title", "issue_body"],
          "properties": {
            "kind": { "const": "fix_issue" },
            "issue_number": { "type": "integer", "minimum": 0 },
            "issue_title": { "type": "string" },
            "issue_body": { "type": "string" }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["kind", "pr_number", "comment_body"],
          "properties": {
            "kind": { "const": "address_review_comment" },
            "pr_number": { "type": "integer", "minimum": 0 },
            "comment_body": { "type": "string" },
            "diff_hunk": { "type": ["string", "null"] }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["kind", "issue_number", "comment_body"],
          "properties": {
            "kind": { "const": "respond_to_mention" },
            "issue_number": { "type": "integer", "minimum": 0 },
            "comment_body": { "type": "string" }
          }
        }
      ]
    },
    "familiar": {
      "type": "object",
      "additionalProperties": false,
      "required": ["id", "display_name", "skills"],
      "properties": {
        "id": { "type": "string" },
        "display_name": { "type": "string" },
        "model": { "type": ["string", "null"] },
        "skills": { "type": "array", "items": { "type": "string" } }
      }
    },
    "workspace": {
      "type": "object",
      "additionalProperties": false,
      "required": ["root"],
      "properties": {
        "root": { "type": "string" }
      }
    },
    "audit_instruction": {
      "type": ["string", "null"],
      "description": "Optional hosted-review instruction paired with review_context."
    },
    "review_context": {
      "type": ["object", "null"],
      "description": "Optional tokenless hosted-review evidence supplied by the adapter.",
      "additionalProperties": false,
      "required": ["kind", "files"],
      "properties": {
        "kind": {
          "type": ["string", "null"],
          "enum": ["pull_request", null]
        },
        "files": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["filename"],
            "properties": {
              "filename": { "type": "string" }
            }
          }
        }
      }
    },
    "memory_policy": {
      "type": ["object", "null"],
      "description": "Optional hosted memory governance policy (issue #6). Present only when the installation opted memory in for this repo; absent means memory is off. See docs/memory-contract.md.",
      "additionalProperties": false,
      "required": ["enabled", "installation_id", "repo", "trust_scope", "read_scopes", "write_scopes", "approval_required"],
      "properties": {
        "enabled": { "type": "boolean" },
        "installation_id": { "type": "integer" },
        "repo": { "type": "string" },
        "trust_scope": {
          "type": "string",
          "enum": ["maintainer", "collaborator", "external", "fork_pr", "scheduled"]
        },
        "read_scopes": {
          "type": "array",
          "items": { "type": "string", "enum": ["repo", "tenant_shared", "familiar_global"] }
        },
        "write_scopes": {
          "type": "array",
          "items": { "type": "string", "enum": ["repo", "tenant_shared", "familiar_global"] }
        },
        "approval_required": { "type": "boolean" },
        "retention_days": { "type": ["integer", "null"] },
        "denied": {
          "type": "array",
          "description": "Revoked memory keys/prefixes the runtime must not read or surface (issue #6). The adapter also refuses them on the result.",
          "items": { "type": "string" }
        }
      }
    }
  }
}
"""#

    /// shared/contracts/v2/result.schema.json
    public static let resultV2 = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/OpenCoven/coven-github/docs/contracts/result.schema.json",
  "title": "coven-code headless result envelope",
  "description": "Terminal task state coven-code --headless writes to --output. Contract version 2.",
  "type": "object",
  "additionalProperties": false,
  "required": ["contract_version", "status", "commits", "files_changed", "summary", "pr_body", "review"],
  "properties": {
    "contract_version": {
      "type": "string",
      "const": "2"
    },
    "status": {
      "type": "string",
      "enum": ["success", "failure", "partial", "needs_input"]
    },
    "branch": {
      "type": ["string", "null"]
    },
    "commits": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["sha", "message"],
        "properties": {
          "sha": { "type": "string" },
          "message": { "type": "string" }
        }
      }
    },
    "files_changed": {
      "type": "array",
      "items": { "type": "string" }
    },
    "summary": { "type": "string" },
    "pr_body": { "type": "string" },
    "review": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "mode",
        "evidence_status",
        "reviewed_files",
        "supporting_files",
        "findings",
        "tests_run",
        "no_findings_reason",
        "limitations"
      ],
      "properties": {
        "mode": {
          "type": "string",
          "enum": ["none", "pull_request", "review_comment"]
        },
        "evidence_status": {
          "type": "string",
          "enum": ["not_applicable", "complete", "partial", "missing"]
        },
        "reviewed_files": {
          "type": "array",
          "items": { "type": "string" }
        },
        "supporting_files": {
          "type": "array",
          "items": { "type": "string" }
        },
        "findings": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["severity", "file", "line", "title", "body", "recommendation"],
            "properties": {
              "severity": {
                "type": "string",
                "enum": ["info", "low", "medium", "high", "critical"]
              },
              "file": { "type": "string" },
              "line": { "type": ["integer", "null"], "minimum": 1 },
              "title": { "type": "string" },
              "body": { "type": "string" },
              "recommendation": { "type": ["string", "null"] }
            }
          }
        },
        "tests_run": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["command", "status", "output_summary"],
            "properties": {
              "command": { "type": "string" },
              "status": {
                "type": "string",
                "enum": ["passed", "failed", "not_run", "unknown"]
              },
              "output_summary": { "type": ["string", "null"] }
            }
          }
        },
        "no_findings_reason": { "type": ["string", "null"] },
        "limitations": {
          "type": "array",
          "items": { "type": "string" }
        }
      },
      "allOf": [
        {
          "if": {
            "properties": { "mode": { "enum": ["pull_request", "review_comment"] } },
            "required": ["mode"]
          },
          "then": {
            "properties": {
              "evidence_status": {
                "enum": ["complete", "partial", "missing"]
              }
            },
            "anyOf": [
              { "properties": { "reviewed_files": { "minItems": 1 } }, "required": ["reviewed_files"] },
              { "properties": { "evidence_status": { "const": "missing" } }, "required": ["evidence_status"] }
            ]
          }
        },
        {
          "if": {
            "properties": { "mode": { "const": "none" } },
            "required": ["mode"]
          },
          "then": {
            "properties": {
              "evidence_status": { "const": "not_applicable" }
            },
            "required": ["evidence_status"]
          }
        }
      ]
    },
    "exit_reason": {
      "type": ["string", "null"],
      "enum": ["test_failure", "ambiguous_spec", "git_conflict", "infra_error", null]
    },
    "memory_used": {
      "type": ["object", "null"],
      "description": "Runtime-reported memory activity for hosted governance (issue #6). Optional; omitted when the run did no memory work.",
      "additionalProperties": false,
      "required": ["enabled"],
      "properties": {
        "enabled": { "type": "boolean" },
        "read": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "scope"],
            "properties": {
              "id": { "type": "string" },
              "scope": { "type": "string" }
            }
          }
        },
        "proposed": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["key", "summary", "scope", "approval"],
            "properties": {
              "key": { "type": "string" },
              "summary": { "type": "string" },
              "scope": { "type": "string" },
              "approval": { "type": "string", "enum": ["pending", "applied", "auto"] }
            }
          }
        },
        "rejected": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["summary", "scope", "reason"],
            "properties": {
              "summary": { "type": "string" },
              "scope": { "type": "string" },
              "reason": { "type": "string", "enum": ["pii", "secret", "out_of_scope", "low_confidence"] }
            }
          }
        }
      }
    }
  },
  "allOf": [
    {
      "if": {
        "properties": { "status": { "const": "success" } },
        "required": ["status"]
      },
      "then": {
        "properties": {
          "exit_reason": { "const": null }
        }
      }
    },
    {
      "if": {
        "properties": { "status": { "enum": ["failure", "needs_input"] } },
        "required": ["status"]
      },
      "then": {
        "properties": {
          "exit_reason": {
            "type": "string",
            "enum": ["test_failure", "ambiguous_spec", "git_conflict", "infra_error"]
          }
        },
        "required": ["exit_reason"]
      }
    }
  ]
}
"""#

    /// Validator for v2 session briefs.
    public static let sessionBriefValidatorV2: JSONSchemaValidator = {
        do { return try JSONSchemaValidator(schemaString: sessionBriefV2) } catch { fatalError("embedded v2 session brief schema: \(error)") }
    }()

    /// Validator for v2 result envelopes.
    public static let resultValidatorV2: JSONSchemaValidator = {
        do { return try JSONSchemaValidator(schemaString: resultV2) } catch { fatalError("embedded v2 result schema: \(error)") }
    }()

    /// The contract versions this build speaks.
    public static let supportedVersions = [1, 2]

    /// The brief validator for `version` (1 or 2).
    public static func briefValidator(version: Int) -> JSONSchemaValidator {
        version == 2 ? sessionBriefValidatorV2 : sessionBriefValidator
    }

    /// The result validator for `version` (1 or 2).
    public static func resultValidator(version: Int) -> JSONSchemaValidator {
        version == 2 ? resultValidatorV2 : resultValidator
    }
}
