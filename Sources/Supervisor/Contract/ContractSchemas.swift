// The headless contract v1 schemas, embedded so validation needs no files at run time.
// Exact copies of shared/contracts/v1/{session-brief,result}.schema.json;
// ContractSchemaTests checks they still equal the shared files when those are present.
// Regenerate by pasting the files between the delimiters (they contain no `"""#`).

public enum ContractSchemas {
    /// The contract version this build speaks.
    public static let version = "1"

    /// shared/contracts/v1/session-brief.schema.json
    public static let sessionBriefV1 = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/OpenCoven/coven-github/docs/contracts/session-brief.schema.json",
  "title": "coven-code headless session brief",
  "description": "Tokenless read-context payload the adapter writes for coven-code --headless --context. Contract version 1.",
  "type": "object",
  "additionalProperties": false,
  "required": ["trigger", "repo", "task", "familiar", "workspace"],
  "properties": {
    "contract_version": {
      "type": "string",
      "const": "1"
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
    }
  }
}
"""#

    /// shared/contracts/v1/result.schema.json
    public static let resultV1 = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/OpenCoven/coven-github/docs/contracts/result.schema.json",
  "title": "coven-code headless result envelope",
  "description": "Terminal task state coven-code --headless writes to --output. Contract version 1.",
  "type": "object",
  "additionalProperties": false,
  "required": ["status", "commits", "files_changed", "summary", "pr_body"],
  "properties": {
    "contract_version": {
      "type": "string",
      "const": "1"
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
    "exit_reason": {
      "type": ["string", "null"],
      "enum": ["test_failure", "ambiguous_spec", "git_conflict", "infra_error", null]
    }
  }
}
"""#

    /// Validator for session briefs (v1). The embedded schema is known to be supported.
    public static let sessionBriefValidator: JSONSchemaValidator = {
        do { return try JSONSchemaValidator(schemaString: sessionBriefV1) } catch { fatalError("embedded session brief schema: \(error)") }
    }()

    /// Validator for result envelopes (v1).
    public static let resultValidator: JSONSchemaValidator = {
        do { return try JSONSchemaValidator(schemaString: resultV1) } catch { fatalError("embedded result schema: \(error)") }
    }()
}
