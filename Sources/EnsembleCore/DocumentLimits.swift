// libyaml itself (Yams' C target). Yams exposes only composed trees, and composing is where
// an alias bomb already costs too much (see `DocumentLimits`), so the check reads events.
import CYaml

/// What one parsed document may cost, checked before anything is built from it.
///
/// Yams composes a YAML alias as the anchored node itself (shared, not copied), but its
/// composer hashes every mapping key (duplicate-key check) and everything built from the
/// tree walks it as a tree: nine anchors of nine aliases each ("billion laughs") become
/// 9^9 nodes. Deep nesting overflows the stack of recursive walkers (Yams' composer and
/// ours), and Swift concurrency threads have small stacks. So a pre-pass over libyaml's
/// events counts nodes, weighting each alias with the expanded size of what it names, and
/// refuses the document before Yams composes it. The same limits apply to any other parser
/// of resources (the operator's JSON reader uses `maxDocumentBytes` and `maxDepth`).
public enum DocumentLimits {
    /// Largest document: the API server refuses request bodies above 3 MiB. For YAML input
    /// it is counted in characters (libyaml's positions), so it equals bytes for ASCII.
    public static let maxDocumentBytes = 3 * 1024 * 1024
    /// Largest input stream (several documents), in bytes.
    public static let maxStreamBytes = 64 * 1024 * 1024
    /// Deepest nesting of mappings and sequences, aliases expanded. Real resources stay
    /// below 20 levels (managed fields included).
    public static let maxDepth = 64
    /// Most nodes (scalars, mappings, sequences, keys included) one document may have once
    /// its aliases are expanded; bounds the memory of everything built from it.
    public static let maxNodes = 250_000
    /// Nodes aliases may add to a document beyond those written in it: ten times as many
    /// (blocks shared a few times each), at least 10,000 so small files can share blocks too.
    /// Keeps a small file from growing to `maxNodes`; `maxNodes` bounds the rest.
    public static func aliasAllowance(literalNodes: Int) -> Int { max(10_000, 10 * literalNodes) }

    /// Refuses a stream whose documents exceed the limits. Syntax errors are left to the
    /// composer, which reports them in detail; the pre-pass stops there.
    static func check(yaml: String, source: String) throws(LoadError) {
        let bytes = yaml.utf8.count
        if bytes > maxStreamBytes {
            throw LoadError(source: source, position: nil,
                            message: "input is \(bytes) bytes, more than the \(maxStreamBytes) this tool reads at once")
        }
        var scan = EventScan(source: source, checkSize: bytes > maxDocumentBytes)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw LoadError(source: source, position: nil, message: "cannot initialise the YAML parser (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }
        let utf8 = Array(yaml.utf8)
        try utf8.withUnsafeBufferPointer { (buffer) throws(LoadError) in
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return }
                try scan.take(event)
            }
        }
    }
}

/// The pre-pass over one stream's events: per document, literal and expanded node counts,
/// and for each anchor the expanded size and height of the node it names.
private struct EventScan {
    struct Open {
        var anchor: String?
        var size = 1
        var height = 1
    }

    let source: String
    let checkSize: Bool
    var stack: [Open] = []
    var anchors: [String: (size: Int, height: Int)] = [:]
    var literal = 0
    var expanded = 0
    /// Nodes added by aliases so far, after each alias, with where it was: the one to blame
    /// when the document's total turns out to exceed what its literal size allows.
    var aliasTotals: [(added: Int, mark: yaml_mark_t)] = []
    var documentStart = 0

    init(source: String, checkSize: Bool) {
        self.source = source
        self.checkSize = checkSize
    }

    func fail(_ mark: yaml_mark_t, _ message: String) -> LoadError {
        LoadError(source: source, position: SourcePosition(line: Int(mark.line) + 1, column: Int(mark.column) + 1),
                  message: message)
    }

    mutating func take(_ event: yaml_event_t) throws(LoadError) {
        let mark = event.start_mark
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            stack = []
            anchors = [:]
            literal = 0
            expanded = 0
            aliasTotals = []
            documentStart = Int(mark.index)
        case YAML_DOCUMENT_END_EVENT:
            try finishDocument(end: event.end_mark)
        case YAML_SCALAR_EVENT:
            try count(mark)
            // Height counts nested mappings and sequences, as the depth limit does.
            if let anchor = Self.text(event.data.scalar.anchor) { anchors[anchor] = (1, 0) }
            add(size: 1, height: 0)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            try count(mark)
            if stack.count + 1 > DocumentLimits.maxDepth {
                throw fail(mark, "document nests deeper than \(DocumentLimits.maxDepth) levels")
            }
            let anchor = event.type == YAML_SEQUENCE_START_EVENT
                ? Self.text(event.data.sequence_start.anchor) : Self.text(event.data.mapping_start.anchor)
            stack.append(Open(anchor: anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let done = stack.popLast() else { return }
            if let anchor = done.anchor { anchors[anchor] = (done.size, done.height) }
            add(size: done.size, height: done.height)
        case YAML_ALIAS_EVENT:
            // An undefined alias is the composer's error to report.
            guard let name = Self.text(event.data.alias.anchor), let target = anchors[name] else { return }
            if stack.count + target.height > DocumentLimits.maxDepth {
                throw fail(mark, "alias *\(name) nests the document deeper than \(DocumentLimits.maxDepth) levels")
            }
            expanded += target.size
            if expanded > DocumentLimits.maxNodes {
                throw fail(mark, "document expands aliases beyond \(DocumentLimits.maxNodes) nodes")
            }
            aliasTotals.append((expanded - literal, mark))
            add(size: target.size, height: target.height)
        default:
            break
        }
    }

    /// One node written in the document.
    mutating func count(_ mark: yaml_mark_t) throws(LoadError) {
        literal += 1
        expanded += 1
        if expanded > DocumentLimits.maxNodes {
            throw fail(mark, "document has more than \(DocumentLimits.maxNodes) nodes")
        }
        if checkSize, Int(mark.index) - documentStart > DocumentLimits.maxDocumentBytes {
            throw fail(mark, "document is larger than \(DocumentLimits.maxDocumentBytes) bytes")
        }
    }

    mutating func add(size: Int, height: Int) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].size += size
        stack[stack.count - 1].height = max(stack[stack.count - 1].height, height + 1)
    }

    mutating func finishDocument(end: yaml_mark_t) throws(LoadError) {
        if checkSize, Int(end.index) - documentStart > DocumentLimits.maxDocumentBytes {
            throw fail(end, "document is larger than \(DocumentLimits.maxDocumentBytes) bytes")
        }
        let allowance = DocumentLimits.aliasAllowance(literalNodes: literal)
        // The first alias after which aliases have added more than the document allows.
        guard let culprit = aliasTotals.first(where: { $0.added > allowance }) else { return }
        throw fail(culprit.mark, "document expands aliases beyond \(literal + allowance) nodes (\(literal) written, aliases may add at most \(allowance))")
    }

    static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
