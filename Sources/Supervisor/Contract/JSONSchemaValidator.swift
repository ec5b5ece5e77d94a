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
    /// `schema` with each object's keywords read out once: validating looks them up per
    /// node of the instance, and the daemon validates a brief per webhook delivery.
    private let root: Node

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
        self.root = Node(schema)
    }

    /// One schema, its keywords read out (a checked schema: `check` has accepted it).
    private final class Node: Sendable {
        /// A boolean schema's value; nil for an object schema.
        let boolean: Bool?
        /// Neither an object nor a boolean: nothing to check.
        let ignored: Bool
        let types: [String]?
        let constant: JSONValue?
        let enumeration: [JSONValue]?
        let required: [String]?
        let properties: [String: Node]
        let additionalProperties: Node?
        let items: Node?
        let minItems: Double?, maxItems: Double?, minLength: Double?, maxLength: Double?, minimum: Double?, maximum: Double?
        let pattern: String?
        let not: Node?
        /// The `not` schema's pattern when that is all it holds (for the message).
        let notPattern: String?
        let allOf: [Node]?, anyOf: [Node]?, oneOf: [Node]?
        let condition: Node?, then: Node?, otherwise: Node?

        init(_ s: JSONValue) {
            if case .bool(let b) = s { boolean = b } else { boolean = nil }
            let o = s.objectValue ?? [:]
            ignored = boolean == nil && s.objectValue == nil
            if let t = o["type"] {
                if case .array(let a) = t { types = a.compactMap(\.stringValue) } else { types = [t.stringValue ?? ""] }
            } else {
                types = nil
            }
            constant = o["const"]
            enumeration = o["enum"]?.arrayValue
            required = o["required"]?.arrayValue?.compactMap(\.stringValue)
            properties = (o["properties"]?.objectValue ?? [:]).mapValues(Node.init)
            additionalProperties = o["additionalProperties"].map(Node.init)
            items = o["items"].map(Node.init)
            func number(_ k: String) -> Double? { if case .number(let d)? = o[k] { return d }; return nil }
            minItems = number("minItems"); maxItems = number("maxItems")
            minLength = number("minLength"); maxLength = number("maxLength")
            minimum = number("minimum"); maximum = number("maximum")
            pattern = o["pattern"]?.stringValue
            not = o["not"].map(Node.init)
            if let n = o["not"]?.objectValue, n.count == 1 { notPattern = n["pattern"]?.stringValue } else { notPattern = nil }
            allOf = o["allOf"]?.arrayValue?.map(Node.init)
            anyOf = o["anyOf"]?.arrayValue?.map(Node.init)
            oneOf = o["oneOf"]?.arrayValue?.map(Node.init)
            condition = o["if"].map(Node.init)
            then = o["then"].map(Node.init)
            otherwise = o["else"].map(Node.init)
        }

        var isFalse: Bool { boolean == false }
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
        var path: [String] = []
        validate(value, against: root, at: &path, into: &errors)
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


    // MARK: - Validation

    /// `path` holds the instance's JSON-pointer components (escaped), joined only for a
    /// message: most values are valid, and building every path cost more than checking.
    private func validate(_ v: JSONValue, against s: Node, at path: inout [String], into errors: inout [String]) {
        func here() -> String { path.isEmpty ? "/" : "/" + path.joined(separator: "/") }
        if let b = s.boolean {
            if !b { errors.append("\(here()): no value is allowed here") }
            return
        }
        if s.ignored { return }

        if let names = s.types {
            if !names.contains(where: { JSONSchemaValidator.matches(v, type: $0) }) {
                let expected = names.count == 1 ? names[0] : names.joined(separator: " or ")
                errors.append("\(here()): expected \(expected), found \(v.typeName)")
                return // the remaining keywords would only repeat the type error
            }
        }
        if let c = s.constant, v != c {
            errors.append("\(here()): must be \(c)")
        }
        if let e = s.enumeration, !e.contains(v) {
            errors.append("\(here()): must be one of \(e.map(\.description).joined(separator: ", "))")
        }

        if case .object(let obj) = v {
            if let req = s.required {
                for r in req where obj[r] == nil {
                    errors.append("\(here()): missing required property \(JSONSchemaValidator.showKey(r))")
                }
            }
            for key in obj.keys.sorted() {
                if let sub = s.properties[key] {
                    path.append(JSONSchemaValidator.pointerEscape(key))
                    validate(obj[key]!, against: sub, at: &path, into: &errors)
                    path.removeLast()
                } else if let ap = s.additionalProperties {
                    if ap.isFalse {
                        errors.append("\(here()): unexpected property \(JSONSchemaValidator.showKey(key))")
                    } else {
                        path.append(JSONSchemaValidator.pointerEscape(key))
                        validate(obj[key]!, against: ap, at: &path, into: &errors)
                        path.removeLast()
                    }
                }
            }
        }

        if case .array(let arr) = v {
            if let items = s.items {
                for (n, el) in arr.enumerated() {
                    path.append(String(n))
                    validate(el, against: items, at: &path, into: &errors)
                    path.removeLast()
                }
            }
            if let m = s.minItems, Double(arr.count) < m { errors.append("\(here()): needs at least \(Int(m)) items") }
            if let m = s.maxItems, Double(arr.count) > m { errors.append("\(here()): allows at most \(Int(m)) items") }
        }

        if case .string(let str) = v {
            if s.minLength != nil || s.maxLength != nil {
                let len = Double(str.unicodeScalars.count)
                if let m = s.minLength, len < m { errors.append("\(here()): must be at least \(Int(m)) characters") }
                if let m = s.maxLength, len > m { errors.append("\(here()): must be at most \(Int(m)) characters") }
            }
            if let pat = s.pattern, !patterns.matches(pat, str) {
                errors.append("\(here()): must match pattern \(JSONText.quoted(pat))")
            }
        }

        if case .number(let d) = v {
            if let m = s.minimum, d < m { errors.append("\(here()): must be >= \(JSONValue.number(m))") }
            if let m = s.maximum, d > m { errors.append("\(here()): must be <= \(JSONValue.number(m))") }
        }

        if let n = s.not {
            var sub: [String] = []
            validate(v, against: n, at: &path, into: &sub)
            if sub.isEmpty {
                if let pat = s.notPattern {
                    errors.append("\(here()): must not match pattern \(JSONText.quoted(pat))")
                } else {
                    errors.append("\(here()): must not be valid against the 'not' schema")
                }
            }
        }

        if let all = s.allOf {
            for sub in all { validate(v, against: sub, at: &path, into: &errors) }
        }
        if let any = s.anyOf {
            let results = any.map { alt -> [String] in var e: [String] = []; validate(v, against: alt, at: &path, into: &e); return e }
            if !results.contains(where: \.isEmpty) {
                let best = results.min(by: { $0.count < $1.count }) ?? []
                errors.append("\(here()): matches none of the \(any.count) anyOf alternatives (closest: \(best.joined(separator: "; ")))")
            }
        }
        if let one = s.oneOf {
            let results = one.map { alt -> [String] in var e: [String] = []; validate(v, against: alt, at: &path, into: &e); return e }
            let passing = results.filter(\.isEmpty).count
            if passing == 0 {
                let best = results.enumerated().min(by: { $0.element.count < $1.element.count })!
                errors.append("\(here()): matches none of the \(one.count) oneOf alternatives (closest is #\(best.offset): \(best.element.joined(separator: "; ")))")
            } else if passing > 1 {
                errors.append("\(here()): matches \(passing) of the oneOf alternatives, exactly one allowed")
            }
        }
        if let cond = s.condition {
            var e: [String] = []
            validate(v, against: cond, at: &path, into: &e)
            if e.isEmpty, let then = s.then {
                validate(v, against: then, at: &path, into: &errors)
            } else if !e.isEmpty, let els = s.otherwise {
                validate(v, against: els, at: &path, into: &errors)
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
