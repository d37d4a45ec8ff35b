import Yams

/// A position in a source file, 1-based.
public struct SourcePosition: Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "line \(line), column \(column)" }
}

/// One YAML document as a `Value`, with where each field path came from.
public struct SourceDocument: Sendable {
    public var value: Value
    /// Field path ("spec.replicas", "spec.scheduling.tolerations[0].key") to position.
    public var positions: [String: SourcePosition]
    /// Index of the document in its file, 0-based.
    public var index: Int
    public var source: String

    public init(value: Value, positions: [String: SourcePosition] = [:], index: Int = 0, source: String) {
        self.value = value
        self.positions = positions
        self.index = index
        self.source = source
    }
}

public struct LoadError: Error, Equatable, Sendable, CustomStringConvertible {
    public var source: String
    public var position: SourcePosition?
    public var message: String

    public var description: String {
        if let position { return "\(source):\(position.line):\(position.column): error: \(message)" }
        return "\(source): error: \(message)"
    }
}

public enum ManifestLoader {
    /// Parses every document of a YAML (or JSON) stream. Empty documents are skipped.
    /// Documents beyond `DocumentLimits` (size, depth, alias expansion) are refused first.
    public static func loadDocuments(yaml: String, source: String) throws(LoadError) -> [SourceDocument] {
        try DocumentLimits.check(yaml: yaml, source: source)
        var documents: [SourceDocument] = []
        do {
            var index = 0
            var nodes = try Yams.compose_all(yaml: yaml)
            while let node = nodes.next() {
                var positions: [String: SourcePosition] = [:]
                let value = try convert(node, path: "", positions: &positions, source: source)
                if value != .null {
                    documents.append(SourceDocument(value: value, positions: positions, index: index, source: source))
                }
                index += 1
            }
            // Yams reports a parse error in a later document through the sequence, not a throw.
            if let error = nodes.error { throw error }
        } catch let error as LoadError {
            throw error
        } catch let error as YamlError {
            throw describe(error, source: source, yaml: yaml)
        } catch {
            throw LoadError(source: source, position: nil, message: "cannot parse YAML: \(error)")
        }
        return documents
    }

    /// Loads every `Ensemble` in a stream; other kinds are an error naming the document.
    public static func loadEnsembles(yaml: String, source: String) throws(LoadError) -> [Ensemble] {
        try loadDocuments(yaml: yaml, source: source).map { document throws(LoadError) in
            let decoded = EnsembleDecoder.decode(document)
            if let fatal = decoded.problems.first(where: { $0.severity == .error }) {
                throw LoadError(source: source, position: fatal.position, message: fatal.description)
            }
            return decoded.ensemble!
        }
    }

    /// Yams marks the start of the mapping; point at the repeated key instead.
    private static func secondOccurrence(of key: String, in yaml: String, mapping: Mark) -> SourcePosition? {
        let indent = String(repeating: " ", count: max(0, mapping.column - 1))
        var seen = 0
        for (index, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where index + 1 >= mapping.line {
            let body = line.hasPrefix(indent) ? line.dropFirst(indent.count) : Substring("")
            if body.hasPrefix("\(key):") || body.hasPrefix("- \(key):") && index + 1 == mapping.line {
                seen += 1
                if seen == 2 { return SourcePosition(line: index + 1, column: mapping.column) }
            }
        }
        return nil
    }

    private static func describe(_ error: YamlError, source: String, yaml: String) -> LoadError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let extra = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return LoadError(source: source, position: SourcePosition(line: mark.line, column: mark.column),
                             message: "invalid YAML: \(problem)\(extra)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.sorted().first ?? ""
            let position = secondOccurrence(of: key, in: yaml, mapping: context.mark)
                ?? SourcePosition(line: context.mark.line, column: context.mark.column)
            return LoadError(source: source, position: position,
                             message: "duplicate key(s) \(duplicates.sorted().joined(separator: ", ")) in one mapping")
        default:
            return LoadError(source: source, position: nil, message: "invalid YAML: \(error)")
        }
    }

    private static func convert(_ node: Node, path: String, positions: inout [String: SourcePosition], source: String) throws(LoadError) -> Value {
        if let mark = node.mark { positions[path] = SourcePosition(line: mark.line, column: mark.column) }
        switch node {
        case .scalar(let scalar):
            return convertScalar(scalar)
        case .mapping(let mapping):
            var entries: [(String, Value)] = []
            for pair in try pairs(of: mapping, path: path, source: source) {
                entries.append((pair.key, try convert(pair.value, path: join(path, pair.key), positions: &positions, source: source)))
            }
            return .object(Object(uniqueEntries: entries))
        case .sequence(let sequence):
            var items: [Value] = []
            for (i, item) in sequence.enumerated() {
                items.append(try convert(item, path: "\(path)[\(i)]", positions: &positions, source: source))
            }
            return .array(items)
        case .alias:
            // Yams composes an alias as the node it names; a bare alias node never comes back.
            throw LoadError(source: source, position: node.mark.map { SourcePosition(line: $0.line, column: $0.column) },
                            message: "\(path): unresolved YAML alias")
        }
    }

    /// A mapping's pairs with YAML merge keys applied (`<<: *a` or `<<: [*a, *b]`, which
    /// kubectl's parser applies too): the mapping's own keys win wherever they appear, then
    /// merged mappings in order, earlier ones winning over later ones.
    private static func pairs(of mapping: Node.Mapping, path: String, source: String) throws(LoadError) -> [(key: String, value: Node)] {
        func position(_ node: Node) -> SourcePosition? { node.mark.map { SourcePosition(line: $0.line, column: $0.column) } }
        let owner = path.isEmpty ? "document" : path
        var result: [(key: String, value: Node)] = []
        var seen = Set<String>()
        var merges: [(key: Node, value: Node)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw LoadError(source: source, position: position(keyNode), message: "\(owner): mapping keys must be plain strings")
            }
            if keyScalar.style == .plain && keyScalar.string == "<<" {
                merges.append((keyNode, valueNode))
                continue
            }
            guard seen.insert(keyScalar.string).inserted else {
                throw LoadError(source: source, position: position(keyNode), message: "\(join(path, keyScalar.string)): key appears twice")
            }
            result.append((keyScalar.string, valueNode))
        }
        for merge in merges {
            let list: [Node]
            if case .sequence(let sequence) = merge.value { list = Array(sequence) } else { list = [merge.value] }
            for item in list {
                guard case .mapping(let merged) = item else {
                    throw LoadError(source: source, position: position(merge.key), message: "\(owner): a merge key (<<) takes a mapping or a list of mappings")
                }
                for pair in try pairs(of: merged, path: path, source: source) where seen.insert(pair.key).inserted {
                    result.append(pair)
                }
            }
        }
        return result
    }

    private static func convertScalar(_ scalar: Node.Scalar) -> Value {
        // Quoted scalars are always strings; plain ones resolve like Kubernetes' YAML parser.
        if scalar.style != .plain { return .string(scalar.string) }
        let node = Node.scalar(scalar)
        if node.null != nil { return .null }
        if let b = node.bool { return .bool(b) }
        if let i = node.int { return .int(i) }
        if let d = node.float { return .double(d) }
        return .string(scalar.string)
    }
}
