/// A structural OpenAPI v3 schema, written once in Swift and used three ways: rendered into
/// the CRD (so the API server validates and defaults at admission), applied by `Validator`
/// (type checks and unknown fields with their paths, offline), and for defaulting, so
/// `zkctl render` and the operator see exactly what the API server would store.
public struct Schema: Sendable {
    public indirect enum Kind: Sendable {
        case string
        case integer
        case boolean
        /// A Kubernetes resource.Quantity: an integer or a string such as "500m" or "10Gi".
        case quantity
        case object([Property])
        case map(Schema)
        case array(Schema)
        /// Passed through to the rendered manifests as written (Kubernetes' own types).
        case freeform
    }

    public var kind: Kind
    public var description: String
    public var defaultValue: Value?
    public var enumValues: [String]?
    public var minimum: Int?
    public var maximum: Int?
    public var maxLength: Int?
    public var maxItems: Int?
    public var maxProperties: Int?
    public var pattern: String?
    public var format: String?
    public var required: [String] = []
    public var rules: [Rule] = []
    /// For lists: how the API server merges and checks them (`x-kubernetes-list-type`).
    public var listType: ListType?
    /// For objects: keys beyond the declared properties are kept as written (Kubernetes'
    /// own types, such as a sidecar container, whose declared fields are still checked).
    public var preservesUnknownFields = false

    /// `set`: scalar items, each at most once. `map`: objects identified by the key fields,
    /// each key at most once (and server-side apply merges items by key).
    public enum ListType: Sendable, Equatable {
        case set
        case map(keys: [String])
    }

    /// A CEL rule (`x-kubernetes-validations`).
    public struct Rule: Sendable {
        public var rule: String
        public var message: String
        public init(_ rule: String, _ message: String) { self.rule = rule; self.message = message }
    }

    public struct Property: Sendable {
        public var name: String
        public var schema: Schema
    }

    init(kind: Kind, description: String) {
        self.kind = kind
        self.description = description
    }

    public var properties: [Property] {
        if case .object(let properties) = kind { return properties }
        return []
    }

    public func property(_ name: String) -> Schema? { properties.first { $0.name == name }?.schema }

    /// Follows a dotted path through object properties ("spec.zookeeper.tickTime").
    public func schema(at path: String) -> Schema? {
        var current: Schema? = self
        for key in path.split(separator: ".") { current = current?.property(String(key)) }
        return current
    }
}

// MARK: Building

extension Schema {
    static func string(_ description: String, default value: String? = nil, enum values: [String]? = nil,
                       maxLength: Int? = nil, pattern: String? = nil, format: String? = nil) -> Schema {
        var s = Schema(kind: .string, description: description)
        s.defaultValue = value.map(Value.string)
        s.enumValues = values
        s.maxLength = maxLength ?? (values == nil ? 1024 : nil)
        s.pattern = pattern
        s.format = format
        return s
    }

    static func integer(_ description: String, default value: Int? = nil, minimum: Int? = nil, maximum: Int? = nil) -> Schema {
        var s = Schema(kind: .integer, description: description)
        s.defaultValue = value.map(Value.int)
        s.minimum = minimum
        s.maximum = maximum
        return s
    }

    static func boolean(_ description: String, default value: Bool? = nil) -> Schema {
        var s = Schema(kind: .boolean, description: description)
        s.defaultValue = value.map(Value.bool)
        return s
    }

    static func quantity(_ description: String, default value: String? = nil) -> Schema {
        var s = Schema(kind: .quantity, description: description)
        s.defaultValue = value.map(Value.string)
        return s
    }

    /// An object; `defaulted` makes it `default: {}` so nested defaults always materialise.
    static func object(_ description: String, defaulted: Bool = true, required: [String] = [],
                       _ properties: [(String, Schema)]) -> Schema {
        var s = Schema(kind: .object(properties.map { Property(name: $0.0, schema: $0.1) }), description: description)
        s.required = required
        if defaulted { s.defaultValue = .object(Object()) }
        return s
    }

    static func map(_ description: String, of values: Schema, maxProperties: Int = 64) -> Schema {
        var s = Schema(kind: .map(values), description: description)
        s.maxProperties = maxProperties
        return s
    }

    static func array(_ description: String, of items: Schema, maxItems: Int = 64, default value: Value? = nil) -> Schema {
        var s = Schema(kind: .array(items), description: description)
        s.maxItems = maxItems
        s.defaultValue = value
        return s
    }

    static func freeform(_ description: String) -> Schema { Schema(kind: .freeform, description: description) }

    /// A list whose items the API server identifies by `keys` (see `ListType.map`).
    func keyed(by keys: String...) -> Schema {
        var s = self
        s.listType = .map(keys: keys)
        return s
    }

    /// A list of distinct scalars.
    func distinct() -> Schema {
        var s = self
        s.listType = .set
        return s
    }

    /// An object that keeps fields beyond its declared properties.
    func keepingUnknownFields() -> Schema {
        var s = self
        s.preservesUnknownFields = true
        return s
    }

    func with(_ rules: Schema.Rule...) -> Schema {
        var s = self
        s.rules += rules
        return s
    }
}

// MARK: Defaulting and structural checks

extension Schema {
    /// Fills in defaults the way the API server does: a missing property with a default gets
    /// it, then defaulting continues inside it.
    public func applyingDefaults(to value: Value) -> Value {
        switch (kind, value) {
        case (.object(let properties), .object(var object)):
            for property in properties {
                if object[property.name] == nil, let value = property.schema.defaultValue {
                    object[property.name] = value
                }
                if let present = object[property.name] {
                    object[property.name] = property.schema.applyingDefaults(to: present)
                }
            }
            return .object(object)
        case (.map(let values), .object(var object)):
            for key in object.keys { object[key] = values.applyingDefaults(to: object[key]!) }
            return .object(object)
        case (.array(let items), .array(let array)):
            return .array(array.map { items.applyingDefaults(to: $0) })
        default:
            return value
        }
    }

    /// Type, enum, bounds and unknown-field problems, each with its field path.
    public func structuralProblems(of value: Value, path: String) -> [Problem] {
        var problems: [Problem] = []
        func fail(_ message: String) { problems.append(Problem(.error, path, message)) }
        switch (kind, value) {
        case (_, .null):
            break  // null means "not set" in Kubernetes manifests
        case (.string, .string(let s)):
            if let values = enumValues, !values.contains(s) {
                fail("must be one of \(values.joined(separator: ", ")), got '\(s)'")
            }
            if let maxLength, s.count > maxLength { fail("must be at most \(maxLength) characters, got \(s.count)") }
        case (.integer, .int(let i)):
            if let minimum, i < minimum { fail("must be at least \(minimum), got \(i)") }
            if let maximum, i > maximum { fail("must be at most \(maximum), got \(i)") }
        case (.boolean, .bool): break
        case (.quantity, .int), (.quantity, .string): break
        case (.quantity, .double(let d)):
            if !d.isFinite { fail("must be a quantity such as 500m or 2Gi") }
        case (.object(let properties), .object(let object)):
            let known = Set(properties.map(\.name))
            for key in object.keys where !known.contains(key) && !preservesUnknownFields {
                let suggestion = properties.map(\.name).first { editDistance($0.lowercased(), key.lowercased()) <= 2 }
                problems.append(Problem(.error, join(path, key),
                    "unknown field" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")))
            }
            for name in required where object[name] == nil || object[name] == .null {
                problems.append(Problem(.error, join(path, name), "is required"))
            }
            for property in properties {
                if let child = object[property.name] {
                    problems += property.schema.structuralProblems(of: child, path: join(path, property.name))
                }
            }
        case (.map(let values), .object(let object)):
            if let maxProperties, object.count > maxProperties { fail("must have at most \(maxProperties) entries, got \(object.count)") }
            for (key, child) in object { problems += values.structuralProblems(of: child, path: join(path, key)) }
        case (.array(let items), .array(let array)):
            if let maxItems, array.count > maxItems { fail("must have at most \(maxItems) items, got \(array.count)") }
            for (i, child) in array.enumerated() { problems += items.structuralProblems(of: child, path: "\(path)[\(i)]") }
            if let listType { problems += duplicates(in: array, listType: listType, path: path) }
        case (.freeform, .object): break
        case (.freeform, .array): break
        default:
            fail("must be \(expectedTypeName), got \(value.typeName)\(value.stringValue.map { " '\($0)'" } ?? "")")
        }
        return problems
    }

    /// The value with everything that breaks the schema removed (nil: the value itself does),
    /// so defaulting fills the gaps.
    public func sanitized(_ value: Value) -> Value? {
        if value == .null { return nil }
        if !structuralProblems(of: value, path: "").isEmpty, case .object(let properties) = kind, case .object(let object) = value {
            if required.contains(where: { object[$0] == nil || object[$0] == .null }) { return nil }
            var result = Object()
            for property in properties {
                if let child = object[property.name], let clean = property.schema.sanitized(child) { result[property.name] = clean }
            }
            if preservesUnknownFields {
                for (key, value) in object where !properties.contains(where: { $0.name == key }) { result[key] = value }
            }
            return .object(result)
        }
        switch (kind, value) {
        case (.map(let values), .object(let object)):
            var result = Object()
            for (key, child) in object { if let clean = values.sanitized(child) { result[key] = clean } }
            return .object(result)
        case (.array(let items), .array(let array)):
            let clean = array.compactMap { items.sanitized($0) }
            return clean.count == array.count || maxItems.map({ clean.count <= $0 }) == true ? .array(clean) : nil
        default:
            return structuralProblems(of: value, path: "").isEmpty ? value : nil
        }
    }

    /// Items a `set` or `map` list holds twice, reported at the later item (the API server
    /// refuses them too).
    func duplicates(in array: [Value], listType: ListType, path: String) -> [Problem] {
        var problems: [Problem] = []
        var seen: [String: Int] = [:]
        for (i, item) in array.enumerated() {
            let identity: String
            let location: String
            switch listType {
            case .set:
                identity = Emit.json(item, pretty: false)
                location = "\(path)[\(i)]"
            case .map(let keys):
                guard item.objectValue != nil, keys.allSatisfy({ item[$0] != nil && item[$0] != .null }) else { continue }
                identity = keys.map { Emit.json(item[$0]!, pretty: false) }.joined(separator: "\u{0}")
                location = "\(path)[\(i)].\(keys[0])"
            }
            if let first = seen[identity] {
                problems.append(Problem(.error, location, "is listed twice (also item \(first))"))
            } else {
                seen[identity] = i
            }
        }
        return problems
    }

    var expectedTypeName: String {
        switch kind {
        case .string: return "a string"
        case .integer: return "an integer"
        case .boolean: return "true or false"
        case .quantity: return "a quantity such as 500m or 2Gi"
        case .object, .map: return "an object"
        case .array: return "a list"
        case .freeform: return "an object or list"
        }
    }
}

func join(_ path: String, _ key: String) -> String {
    if key.isEmpty { return "\(path)[\"\"]" }
    if path.isEmpty { return key }
    // Keys with dots (labels, config keys) are bracketed so paths stay unambiguous.
    return key.contains(".") || key.contains("/") ? "\(path)[\(key)]" : "\(path).\(key)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

// MARK: OpenAPI

extension Schema {
    /// The `openAPIV3Schema` form for the CRD.
    public func openAPI() -> Value {
        var o = Object()
        switch kind {
        case .string: o["type"] = "string"
        case .integer:
            o["type"] = "integer"
            // Bounded fields fit Java's int (ZooKeeper parses them so); unbounded counters
            // such as generations are 64-bit in Kubernetes.
            o["format"] = maximum.map { $0 <= Int(Int32.max) } == true ? "int32" : "int64"
        case .boolean: o["type"] = "boolean"
        case .quantity:
            o["anyOf"] = [["type": "integer"], ["type": "string"]]
            o["pattern"] = .string(Quantity.pattern)
            o["x-kubernetes-int-or-string"] = true
        case .object(let properties):
            o["type"] = "object"
            var props = Object()
            for property in properties { props[property.name] = property.schema.openAPI() }
            o["properties"] = .object(props)
            if !required.isEmpty { o["required"] = .array(required.map(Value.string)) }
        case .map(let values):
            o["type"] = "object"
            o["additionalProperties"] = values.openAPI()
        case .array(let items):
            o["type"] = "array"
            o["items"] = items.openAPI()
        case .freeform:
            o["x-kubernetes-preserve-unknown-fields"] = true
        }
        o["description"] = .string(description)
        if let defaultValue { o["default"] = defaultValue }
        if let enumValues { o["enum"] = .array(enumValues.map(Value.string)) }
        if let minimum { o["minimum"] = .int(minimum) }
        if let maximum { o["maximum"] = .int(maximum) }
        if let maxLength { o["maxLength"] = .int(maxLength) }
        if let maxItems { o["maxItems"] = .int(maxItems) }
        if let maxProperties { o["maxProperties"] = .int(maxProperties) }
        if let pattern { o["pattern"] = .string(pattern) }
        if let format { o["format"] = .string(format) }
        switch listType {
        case .set: o["x-kubernetes-list-type"] = "set"
        case .map(let keys):
            o["x-kubernetes-list-type"] = "map"
            o["x-kubernetes-list-map-keys"] = .array(keys.map(Value.string))
        case nil: break
        }
        if preservesUnknownFields { o["x-kubernetes-preserve-unknown-fields"] = true }
        if !rules.isEmpty {
            o["x-kubernetes-validations"] = .array(rules.map { ["rule": .string($0.rule), "message": .string($0.message)] })
        }
        return .object(o)
    }

    /// Every leaf field path with its schema, for exhaustive tests.
    public func leafPaths(prefix: String = "") -> [(path: String, schema: Schema)] {
        switch kind {
        case .object(let properties):
            return properties.flatMap { $0.schema.leafPaths(prefix: prefix.isEmpty ? $0.name : "\(prefix).\($0.name)") }
        default:
            return [(prefix, self)]
        }
    }
}

/// One thing wrong (or worth a warning) about a resource, with its field path.
public struct Problem: Equatable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var severity: Severity
    public var path: String
    public var message: String
    public var position: SourcePosition?

    public init(_ severity: Severity, _ path: String, _ message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
