import Foundation
import Sandbox

/// A small JSON Schema (draft 2020-12 subset) validator, enough for the headless
/// contract's schemas.
///
/// Supported keywords: `type` (a name or an array of names, incl. "null" and
/// "integer"), `const`, `enum`, `required`, `properties`, `additionalProperties`
/// (boolean or schema), `items` (a schema), `minItems`, `maxItems`, `minLength`,
/// `maxLength`, `minimum`, `maximum`, `pattern` (NSRegularExpression, unanchored
/// search as in ECMA-262), `oneOf`, `anyOf`, `allOf`, `not`, `if`/`then`/`else`,
/// boolean schemas, and the annotations `$schema`, `$id`, `title`, `description`.
/// Any other keyword makes `init` throw: a validator that silently ignored a keyword
/// would accept documents the schema rejects.
///
/// Error messages name the JSON-pointer path and what was expected; they never echo
/// string values from the instance (the instance may come from an untrusted agent).
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue
    private let patterns: PatternCache

    public enum SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
        case notJSON(JSONParseError)
        case unsupportedKeyword(path: String, keyword: String)
        case invalid(path: String, reason: String)

        public var description: String {
            switch self {
            case .notJSON(let e): return "schema is not JSON: \(e)"
            case .unsupportedKeyword(let p, let k): return "schema keyword '\(k)' at \(p.isEmpty ? "/" : p) is not supported"
            case .invalid(let p, let r): return "schema invalid at \(p.isEmpty ? "/" : p): \(r)"
            }
        }
    }

    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "$comment", "examples", "default"]
    static let keywords: Set<String> = [
        "type", "const", "enum", "required", "properties", "additionalProperties", "items",
        "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "pattern",
        "oneOf", "anyOf", "allOf", "not", "if", "then", "else",
    ]
    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "string", "number", "integer"]

    public init(schemaData: Data) throws(SchemaError) {
        let value: JSONValue
        do { value = try JSONValue.parse(schemaData) } catch { throw .notJSON(error) }
        try self.init(schema: value)
    }

    public init(schemaString: String) throws(SchemaError) {
        try self.init(schemaData: Data(schemaString.utf8))
    }

    public init(schema: JSONValue) throws(SchemaError) {
        var regexes: [String: NSRegularExpression] = [:]
        try JSONSchemaValidator.check(schema, path: "", regexes: &regexes)
        self.schema = schema
        self.patterns = PatternCache(regexes)
    }

    /// Validates a JSON document; returns the errors (empty when valid). A document that
    /// is not JSON gives a single error.
    public func validate(_ jsonData: Data) -> [String] {
        do {
            return validate(value: try JSONValue.parse(jsonData))
        } catch {
            return ["/: \(error)"]
        }
    }

    /// Validates a parsed value; returns the errors (empty when valid).
    public func validate(value: JSONValue) -> [String] {
        var errors: [String] = []
        validate(value, against: schema, at: "", into: &errors)
        return errors
    }

    public func isValid(_ value: JSONValue) -> Bool { validate(value: value).isEmpty }

    // MARK: - Schema checking

    private static func check(_ s: JSONValue, path: String, regexes: inout [String: NSRegularExpression]) throws(SchemaError) {
        if case .bool = s { return }
        guard let obj = s.objectValue else { throw .invalid(path: path, reason: "a schema must be an object or a boolean") }
        for (k, v) in obj {
            let p = path + "/" + pointerEscape(k)
            if annotations.contains(k) { continue }
            guard keywords.contains(k) else { throw .unsupportedKeyword(path: path, keyword: k) }
            switch k {
            case "type":
                let names: [JSONValue]
                if case .array(let a) = v { names = a } else { names = [v] }
                for n in names {
                    guard let str = n.stringValue, typeNames.contains(str) else { throw .invalid(path: p, reason: "unknown type") }
                }
            case "enum":
                guard v.arrayValue != nil else { throw .invalid(path: p, reason: "enum must be an array") }
            case "required":
                guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                    throw .invalid(path: p, reason: "required must be an array of strings")
                }
            case "properties":
                guard let props = v.objectValue else { throw .invalid(path: p, reason: "properties must be an object") }
                for (name, sub) in props { try check(sub, path: p + "/" + pointerEscape(name), regexes: &regexes) }
            case "additionalProperties", "items", "not", "if", "then", "else":
                try check(v, path: p, regexes: &regexes)
            case "oneOf", "anyOf", "allOf":
                guard let a = v.arrayValue, !a.isEmpty else { throw .invalid(path: p, reason: "\(k) must be a non-empty array") }
                for (n, sub) in a.enumerated() { try check(sub, path: p + "/\(n)", regexes: &regexes) }
            case "minItems", "maxItems", "minLength", "maxLength":
                guard case .number(let d) = v, JSONValue.isInteger(d), d >= 0 else {
                    throw .invalid(path: p, reason: "\(k) must be a non-negative integer")
                }
            case "minimum", "maximum":
                guard case .number = v else { throw .invalid(path: p, reason: "\(k) must be a number") }
            case "pattern":
                guard let pat = v.stringValue else { throw .invalid(path: p, reason: "pattern must be a string") }
                guard let re = try? NSRegularExpression(pattern: pat) else {
                    throw .invalid(path: p, reason: "pattern does not compile")
                }
                regexes[pat] = re
            default:
                break // const: any value
            }
        }
    }

    static func pointerEscape(_ s: String) -> String {
        // Most keys need no escape; Foundation's replacing is slow on Linux.
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return s }
        return s.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// A property name from the instance, made safe to show: at most 64 characters,
    /// quoted with control characters escaped.
    static func showKey(_ s: String) -> String {
        let short = s.count > 64 ? String(s.prefix(64)) + "…" : s
        return JSONText.quoted(short)
    }

    private static func display(_ path: String) -> String { path.isEmpty ? "/" : path }

    // MARK: - Validation

    private func validate(_ v: JSONValue, against s: JSONValue, at path: String, into errors: inout [String]) {
        let here = JSONSchemaValidator.display(path)
        if case .bool(let b) = s {
            if !b { errors.append("\(here): no value is allowed here") }
            return
        }
        guard let s = s.objectValue else { return }

        if let t = s["type"] {
            let names: [String]
            if case .array(let a) = t { names = a.compactMap(\.stringValue) } else { names = [t.stringValue ?? ""] }
            if !names.contains(where: { JSONSchemaValidator.matches(v, type: $0) }) {
                let expected = names.count == 1 ? names[0] : names.joined(separator: " or ")
                errors.append("\(here): expected \(expected), found \(v.typeName)")
                return // the remaining keywords would only repeat the type error
            }
        }
        if let c = s["const"], v != c {
            errors.append("\(here): must be \(c)")
        }
        if let e = s["enum"]?.arrayValue, !e.contains(v) {
            errors.append("\(here): must be one of \(e.map(\.description).joined(separator: ", "))")
        }

        if case .object(let obj) = v {
            if let req = s["required"]?.arrayValue {
                for r in req.compactMap(\.stringValue) where obj[r] == nil {
                    errors.append("\(here): missing required property \(JSONSchemaValidator.showKey(r))")
                }
            }
            let props = s["properties"]?.objectValue ?? [:]
            for key in obj.keys.sorted() {
                let child = path + "/" + JSONSchemaValidator.pointerEscape(key)
                if let sub = props[key] {
                    validate(obj[key]!, against: sub, at: child, into: &errors)
                } else if let ap = s["additionalProperties"] {
                    if case .bool(false) = ap {
                        errors.append("\(here): unexpected property \(JSONSchemaValidator.showKey(key))")
                    } else {
                        validate(obj[key]!, against: ap, at: child, into: &errors)
                    }
                }
            }
        }

        if case .array(let arr) = v {
            if let items = s["items"] {
                for (n, el) in arr.enumerated() { validate(el, against: items, at: path + "/\(n)", into: &errors) }
            }
            if case .number(let m)? = s["minItems"], Double(arr.count) < m { errors.append("\(here): needs at least \(Int(m)) items") }
            if case .number(let m)? = s["maxItems"], Double(arr.count) > m { errors.append("\(here): allows at most \(Int(m)) items") }
        }

        if case .string(let str) = v {
            let len = Double(str.unicodeScalars.count)
            if case .number(let m)? = s["minLength"], len < m { errors.append("\(here): must be at least \(Int(m)) characters") }
            if case .number(let m)? = s["maxLength"], len > m { errors.append("\(here): must be at most \(Int(m)) characters") }
            if let pat = s["pattern"]?.stringValue, !patterns.matches(pat, str) {
                errors.append("\(here): must match pattern \(JSONText.quoted(pat))")
            }
        }

        if case .number(let d) = v {
            if case .number(let m)? = s["minimum"], d < m { errors.append("\(here): must be >= \(JSONValue.number(m))") }
            if case .number(let m)? = s["maximum"], d > m { errors.append("\(here): must be <= \(JSONValue.number(m))") }
        }

        if let n = s["not"] {
            var sub: [String] = []
            validate(v, against: n, at: path, into: &sub)
            if sub.isEmpty {
                if let pat = n.objectValue?["pattern"]?.stringValue, n.objectValue?.count == 1 {
                    errors.append("\(here): must not match pattern \(JSONText.quoted(pat))")
                } else {
                    errors.append("\(here): must not be valid against the 'not' schema")
                }
            }
        }

        if let all = s["allOf"]?.arrayValue {
            for sub in all { validate(v, against: sub, at: path, into: &errors) }
        }
        if let any = s["anyOf"]?.arrayValue {
            let results = any.map { alt -> [String] in var e: [String] = []; validate(v, against: alt, at: path, into: &e); return e }
            if !results.contains(where: \.isEmpty) {
                let best = results.min(by: { $0.count < $1.count }) ?? []
                errors.append("\(here): matches none of the \(any.count) anyOf alternatives (closest: \(best.joined(separator: "; ")))")
            }
        }
        if let one = s["oneOf"]?.arrayValue {
            let results = one.map { alt -> [String] in var e: [String] = []; validate(v, against: alt, at: path, into: &e); return e }
            let passing = results.filter(\.isEmpty).count
            if passing == 0 {
                let best = results.enumerated().min(by: { $0.element.count < $1.element.count })!
                errors.append("\(here): matches none of the \(one.count) oneOf alternatives (closest is #\(best.offset): \(best.element.joined(separator: "; ")))")
            } else if passing > 1 {
                errors.append("\(here): matches \(passing) of the oneOf alternatives, exactly one allowed")
            }
        }
        if let cond = s["if"] {
            var e: [String] = []
            validate(v, against: cond, at: path, into: &e)
            if e.isEmpty, let then = s["then"] {
                validate(v, against: then, at: path, into: &errors)
            } else if !e.isEmpty, let els = s["else"] {
                validate(v, against: els, at: path, into: &errors)
            }
        }
    }

    static func matches(_ v: JSONValue, type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string), ("number", .number):
            return true
        case ("integer", .number(let d)):
            return JSONValue.isInteger(d)
        default:
            return false
        }
    }
}

/// Compiled patterns. NSRegularExpression is immutable once built and documented as
/// safe to use from several threads.
private final class PatternCache: @unchecked Sendable {
    let regexes: [String: NSRegularExpression]
    init(_ regexes: [String: NSRegularExpression]) { self.regexes = regexes }

    func matches(_ pattern: String, _ s: String) -> Bool {
        guard let re = regexes[pattern] else { return false }
        let ns = s as NSString
        return re.firstMatch(in: s, options: [], range: NSRange(location: 0, length: ns.length)) != nil
    }
}
