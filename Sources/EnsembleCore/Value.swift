/// A JSON-shaped value whose objects keep their key order.
///
/// Manifests are built and compared as `Value`s: order is what makes rendered output (and
/// the configuration hash that rolls members) deterministic.
public enum Value: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(Object)

    public subscript(key: String) -> Value? {
        get { if case .object(let object) = self { return object[key] } else { return nil } }
        set {
            guard case .object(var object) = self else { return }
            object[key] = newValue
            self = .object(object)
        }
    }

    public var objectValue: Object? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [Value]? { if case .array(let a) = self { return a } else { return nil } }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// Follows a dotted path of object keys.
    public func lookup(_ path: String) -> Value? {
        var current: Value? = self
        for key in path.split(separator: ".") { current = current?[String(key)] }
        return current
    }

    /// Follows a path of object keys and list indices: "spec.template.spec.containers[0].ports".
    public func at(_ path: String) -> Value? {
        var current: Value? = self
        for part in path.split(separator: ".") {
            var key = Substring(part)
            var indices: [Int] = []
            while let open = key.lastIndex(of: "["), key.hasSuffix("]"),
                  let index = Int(key[key.index(after: open)..<key.index(before: key.endIndex)]) {
                indices.insert(index, at: 0)
                key = key[..<open]
            }
            if !key.isEmpty { current = current?[String(key)] }
            for i in indices {
                guard let array = current?.arrayValue, i >= 0, i < array.count else { return nil }
                current = array[i]
            }
        }
        return current
    }

    /// The JSON type name used in error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// An insertion-ordered string-keyed map.
public struct Object: Equatable, Sendable, Sequence {
    public private(set) var entries: [(key: String, value: Value)] = []

    public init() {}

    public init(_ entries: [(String, Value)]) {
        for (key, value) in entries { self[key] = value }
    }

    /// Entries whose keys the caller has already checked to be distinct (the JSON parser):
    /// skips the per-key search that makes building a large object quadratic.
    init(uniqueKeys entries: [(key: String, value: Value)]) {
        self.entries = entries
    }

    public subscript(key: String) -> Value? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Entries whose keys are known to be distinct (a parser's checked keys): built in one
    /// pass, where the subscript would search the entries for every key.
    init(uniqueEntries: [(String, Value)]) {
        entries = uniqueEntries.map { (key: $0.0, value: $0.1) }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> { entries.makeIterator() }

    public static func == (a: Object, b: Object) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(Object(elements)) }
    public init(nilLiteral: ()) { self = .null }
}

extension Value {
    /// A string map as an object, keys sorted so output does not depend on input order.
    public static func sortedMap(_ map: [String: String]) -> Value {
        .object(Object(map.keys.sorted().map { ($0, .string(map[$0]!)) }))
    }

    /// Removes keys whose value is null, recursively; renderers use null for "leave out".
    public func pruned() -> Value {
        switch self {
        case .object(let object):
            return .object(Object(uniqueEntries: object.entries.compactMap { $0.value == .null ? nil : ($0.key, $0.value.pruned()) }))
        case .array(let items):
            return .array(items.map { $0.pruned() })
        default:
            return self
        }
    }
}

extension Value {
    /// A JSON merge patch (RFC 7386) turning `old` into `new`: keys that went away are set to
    /// null, in nested objects too (arrays are replaced whole by merge patches anyway).
    public static func mergePatch(from old: Value?, to new: Value) -> Value {
        guard new.objectValue != nil else { return new }
        var patch = new
        for key in old?.objectValue?.keys ?? [] {
            guard let value = new[key] else {
                patch[key] = .null
                continue
            }
            if value.objectValue != nil, old?[key]?.objectValue != nil { patch[key] = mergePatch(from: old?[key], to: value) }
        }
        return patch
    }
}
