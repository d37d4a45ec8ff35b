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
        if let position { return "\(source):\(position.line):\(position.column): \(message)" }
        return "\(source): \(message)"
    }
}

public enum ManifestLoader {
    /// Parses every document of a YAML (or JSON) stream. Empty documents are skipped.
    public static func loadDocuments(yaml: String, source: String) throws(LoadError) -> [SourceDocument] {
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
            var object = Object()
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw LoadError(source: source, position: keyNode.mark.map { SourcePosition(line: $0.line, column: $0.column) },
                                    message: "\(path.isEmpty ? "document" : path): mapping keys must be plain strings")
                }
                let key = keyScalar.string
                let childPath = join(path, key)
                if object[key] != nil {
                    throw LoadError(source: source, position: keyNode.mark.map { SourcePosition(line: $0.line, column: $0.column) },
                                    message: "\(childPath): key appears twice")
                }
                object[key] = try convert(valueNode, path: childPath, positions: &positions, source: source)
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [Value] = []
            for (i, item) in sequence.enumerated() {
                items.append(try convert(item, path: "\(path)[\(i)]", positions: &positions, source: source))
            }
            return .array(items)
        case .alias:
            throw LoadError(source: source, position: node.mark.map { SourcePosition(line: $0.line, column: $0.column) },
                            message: "\(path): YAML aliases are not supported in resources")
        }
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
