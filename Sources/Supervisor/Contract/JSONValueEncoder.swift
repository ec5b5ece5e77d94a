import Foundation

/// Encodes an `Encodable` straight into a `JSONValue`: what `JSONEncoder` would write,
/// parsed back, without the text in between. Checking a value against a schema (the
/// session brief, at every task a webhook or the API accepts) needs the tree, not bytes.
///
/// Same representation as `JSONEncoder`'s defaults: nil optionals left out, numbers as
/// doubles, `URL` as its absolute string, `Date` as seconds since 2001, `Data` as base64.
public struct JSONValueEncoder {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        try JSONValueEncoder.encode(value, into: root, codingPath: [])
        return root.resolved
    }

    fileprivate static func encode<T: Encodable>(_ value: T, into node: Node, codingPath: [any CodingKey]) throws {
        switch value {
        case let url as URL: node.value = .string(url.absoluteString)
        case let date as Date: node.value = .number(date.timeIntervalSinceReferenceDate)
        case let data as Data: node.value = .string(data.base64EncodedString())
        default: try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
        }
    }
}

/// One value being built: a scalar, or an object or array of nodes still being filled.
private final class Node {
    var value: JSONValue = .null
    var object: [String: Node]?
    var array: [Node]?

    var resolved: JSONValue {
        if let object { return .object(object.mapValues(\.resolved)) }
        if let array { return .array(array.map(\.resolved)) }
        return value
    }

    func asObject() -> Node { if object == nil { object = [:] }; return self }
    func asArray() -> Node { if array == nil { array = [] }; return self }
}

private struct IndexKey: CodingKey {
    var stringValue: String { String(intValue ?? 0) }
    var intValue: Int?
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct TreeEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(node: node.asObject(), codingPath: codingPath))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { Unkeyed(node: node.asArray(), codingPath: codingPath) }
    func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> Node {
        let n = Node()
        node.object![key.stringValue] = n
        return n
    }
    mutating func encodeNil(forKey key: Key) throws { child(key).value = .null }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).value = .bool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).value = .string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).value = .number(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { child(key).value = .number(Double(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).value = .number(Double(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).value = .number(Double(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).value = .number(Double(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try JSONValueEncoder.encode(value, into: child(key), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Keyed<NestedKey>(node: child(key).asObject(), codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        Unkeyed(node: child(key).asArray(), codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder {
        TreeEncoder(node: child(Key(stringValue: "super")!), codingPath: codingPath)
    }
    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(node: child(key), codingPath: codingPath + [key]) }
}

private struct Unkeyed: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.array!.count }

    private func next() -> Node {
        let n = Node()
        node.array!.append(n)
        return n
    }
    mutating func encodeNil() throws { next().value = .null }
    mutating func encode(_ value: Bool) throws { next().value = .bool(value) }
    mutating func encode(_ value: String) throws { next().value = .string(value) }
    mutating func encode(_ value: Double) throws { next().value = .number(value) }
    mutating func encode(_ value: Int) throws { next().value = .number(Double(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(count)
        try JSONValueEncoder.encode(value, into: next(), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Keyed<NestedKey>(node: next().asObject(), codingPath: codingPath + [IndexKey(count)]))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        Unkeyed(node: next().asArray(), codingPath: codingPath + [IndexKey(count)])
    }
    mutating func superEncoder() -> any Encoder { TreeEncoder(node: next(), codingPath: codingPath + [IndexKey(count)]) }
}

private struct Single: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    mutating func encodeNil() throws { node.value = .null }
    mutating func encode(_ value: Bool) throws { node.value = .bool(value) }
    mutating func encode(_ value: String) throws { node.value = .string(value) }
    mutating func encode(_ value: Double) throws { node.value = .number(value) }
    mutating func encode(_ value: Float) throws { node.value = .number(Double(value)) }
    mutating func encode(_ value: Int) throws { node.value = .number(Double(value)) }
    mutating func encode(_ value: Int64) throws { node.value = .number(Double(value)) }
    mutating func encode(_ value: UInt64) throws { node.value = .number(Double(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try JSONValueEncoder.encode(value, into: node, codingPath: codingPath) }
}
