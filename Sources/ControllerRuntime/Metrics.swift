import Synchronization

/// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
/// exposition format for `/metrics`.
public final class MetricsRegistry: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    struct Family {
        var kind: Kind
        var help: String
        var buckets: [Double]
        /// label text ("{a=\"b\"}") -> value, or histogram state
        var values: [String: Double] = [:]
        /// Series replaced together (one Ensemble's members), by the group's label text.
        var groups: [String: [String: Double]] = [:]
        var histograms: [String: Histogram] = [:]
    }

    struct Histogram {
        var counts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private let families = Mutex<[String: Family]>([:])

    public init() {}

    public func register(_ name: String, _ kind: Kind, help: String, buckets: [Double] = []) {
        families.withLock { f in
            if f[name] == nil { f[name] = Family(kind: kind, help: help, buckets: buckets) }
        }
    }

    public func increment(_ name: String, _ labels: KeyValuePairs<String, String> = [:], by amount: Double = 1) {
        let text = Self.labelText(labels)
        families.withLock { f in f[name]?.values[text, default: 0] += amount }
    }

    public func set(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        let text = Self.labelText(labels)
        families.withLock { f in f[name]?.values[text] = value }
    }

    /// Replaces every series of a gauge at once (e.g. Ensembles by phase, per-member figures),
    /// so series of things that went away disappear.
    public func replace(_ name: String, _ series: [([(String, String)], Double)]) {
        var values: [String: Double] = [:]
        for (labels, value) in series { values[Self.labelText(labels)] = value }
        families.withLock { f in f[name]?.values = values }
    }

    /// Replaces one group of a gauge's series at once (one Ensemble's members, `group`
    /// naming it), leaving the other groups alone; an empty `series` removes the group.
    public func replace(_ name: String, group: [(String, String)], _ series: [([(String, String)], Double)]) {
        let key = Self.labelText(group)
        var values: [String: Double] = [:]
        for (labels, value) in series { values[Self.labelText(labels)] = value }
        families.withLock { f in
            guard f[name] != nil else { return }
            f[name]!.groups[key] = values.isEmpty ? nil : values
        }
    }

    public func observe(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        let text = Self.labelText(labels)
        families.withLock { f in
            guard var family = f[name] else { return }
            var h = family.histograms[text] ?? Histogram(counts: Array(repeating: 0, count: family.buckets.count))
            for (i, bound) in family.buckets.enumerated() where value <= bound { h.counts[i] += 1 }
            h.sum += value
            h.count += 1
            family.histograms[text] = h
            f[name] = family
        }
    }

    public func value(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Double? {
        let text = Self.labelText(labels)
        return families.withLock { $0[name]?.values[text] }
    }

    /// The text exposition format (version 0.0.4).
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let family = snapshot[name]!
            out += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.rawValue)\n"
            if family.kind == .histogram {
                for labels in family.histograms.keys.sorted() {
                    let h = family.histograms[labels]!
                    for (i, bound) in family.buckets.enumerated() {
                        out += "\(name)_bucket\(Self.adding("le", Self.number(bound), to: labels)) \(h.counts[i])\n"
                    }
                    out += "\(name)_bucket\(Self.adding("le", "+Inf", to: labels)) \(h.count)\n"
                    out += "\(name)_sum\(labels) \(Self.number(h.sum))\n\(name)_count\(labels) \(h.count)\n"
                }
            } else {
                var all = family.values
                for group in family.groups.values { all.merge(group) { _, new in new } }
                for labels in all.keys.sorted() {
                    out += "\(name)\(labels) \(Self.number(all[labels]!))\n"
                }
            }
        }
        return out
    }

    static func labelText<S: Sequence>(_ labels: S) -> String where S.Element == (String, String) {
        let parts = labels.map { "\($0.0)=\"\(escape($0.1))\"" }
        return parts.isEmpty ? "" : "{" + parts.joined(separator: ",") + "}"
    }

    static func labelText(_ labels: KeyValuePairs<String, String>) -> String {
        labelText(labels.map { ($0.key, $0.value) })
    }

    static func adding(_ key: String, _ value: String, to labels: String) -> String {
        labels.isEmpty ? "{\(key)=\"\(value)\"}" : String(labels.dropLast()) + ",\(key)=\"\(value)\"}"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
