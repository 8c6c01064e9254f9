import Foundation
import Yams

// MARK: - Fields of a mapping

extension ProfileReader {
    /// The entries of one YAML mapping, by key, plus what messages about it start with.
    struct Fields {
        var node: Node
        var context: String
        var entries: [String: (key: Node, value: Node)] = [:]

        func value(_ key: String) -> Node? { entries[key]?.value }
        func has(_ key: String) -> Bool { entries[key] != nil }
    }

    /// Reads a mapping, reporting unknown keys (with a "did you mean") and repeated keys.
    mutating func fields(of node: Node, context: String, allowed: [String]) -> Fields? {
        guard let mapping = node.mapping else {
            let what = context.isEmpty ? "the profile" : String(context.dropLast(2))
            report("\(what) must be a mapping of 'key: value' lines, got \(describe(node))", at: node)
            return nil
        }
        var fields = Fields(node: node, context: context)
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                report("\(context)keys must be plain words, got \(describe(key))", at: key)
                continue
            }
            if let first = fields.entries[name] {
                report("\(context)key '\(name)' appears twice (first at line \(first.key.mark?.line ?? 0))", at: key)
                continue
            }
            fields.entries[name] = (key, value)
            if !allowed.contains(name) {
                var message = "\(context)unknown key '\(name)'"
                if let guess = closestKey(to: name, in: allowed) {
                    message += " (did you mean '\(guess)'?)"
                } else {
                    message += " (expected one of: \(allowed.joined(separator: ", ")))"
                }
                report(message, at: key)
            }
        }
        return fields
    }

    /// The scalar text of a key's value; reports a missing required key, a null, or a non-scalar.
    mutating func scalarText(_ key: String, in fields: Fields, required: Bool = false) -> String? {
        guard let node = fields.value(key) else {
            if required { report("\(fields.context)missing required key '\(key)'", at: fields.node) }
            return nil
        }
        guard let scalar = node.scalar else {
            report("\(fields.context)\(key) must be a single value, got \(describe(node))", at: node)
            return nil
        }
        if isNull(node) {
            report("\(fields.context)\(key) has no value", at: node)
            return nil
        }
        return scalar.string
    }

    mutating func string(_ key: String, in fields: Fields, required: Bool = false) -> String? {
        guard let text = scalarText(key, in: fields, required: required) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            report("\(fields.context)\(key) must not be empty", at: fields.value(key))
            return nil
        }
        return trimmed
    }

    mutating func choice(_ key: String, in fields: Fields, from options: [String]) -> String? {
        guard let text = string(key, in: fields)?.lowercased() else { return nil }
        guard options.contains(text) else {
            report("\(fields.context)\(key) '\(text)' is not one of: \(options.joined(separator: ", "))", at: fields.value(key))
            return nil
        }
        return text
    }

    mutating func boolean(_ key: String, in fields: Fields) -> Bool? {
        guard let text = string(key, in: fields)?.lowercased() else { return nil }
        switch text {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            report("\(fields.context)\(key) must be true or false, got '\(text)'", at: fields.value(key))
            return nil
        }
    }

    mutating func positiveInt(_ key: String, in fields: Fields, required: Bool = false) -> Int? {
        guard let text = scalarText(key, in: fields, required: required) else { return nil }
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
            report("\(fields.context)\(key) must be a whole number, got '\(text)'", at: fields.value(key))
            return nil
        }
        guard number > 0 else {
            report("\(fields.context)\(key) must be positive, got \(number)", at: fields.value(key))
            return nil
        }
        return number
    }

    mutating func positiveNumber(_ key: String, in fields: Fields, unit: String, required: Bool = false) -> Double? {
        guard let text = scalarText(key, in: fields, required: required) else { return nil }
        guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite else {
            report("\(fields.context)\(key) must be a number\(unit.isEmpty ? "" : " of\(unit)"), got '\(text)'",
                   at: fields.value(key))
            return nil
        }
        guard number > 0 else {
            report("\(fields.context)\(key) must be positive, got \(text)", at: fields.value(key))
            return nil
        }
        return number
    }

    mutating func bitrate(_ key: String, in fields: Fields, required: Bool = false) -> Int? {
        guard let text = scalarText(key, in: fields, required: required) else { return nil }
        guard let bits = Bitrate.parse(text) else {
            report("\(fields.context)\(key) must be a bitrate like 145k, 6M or 6000000, got '\(text)'", at: fields.value(key))
            return nil
        }
        guard bits > 0 else {
            report("\(fields.context)\(key) must be positive, got \(text)", at: fields.value(key))
            return nil
        }
        return bits
    }

    /// The allowed key within edit distance 2 of a typo, if any.
    func closestKey(to name: String, in allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(name.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < name.count else { return nil }
        return best.0
    }

    /// Levenshtein distance, one row at a time.
    private func editDistance(_ a: String, _ b: String) -> Int {
        let b = Array(b)
        var previous = Array(0...b.count)
        for (i, character) in a.enumerated() {
            var current = [i + 1]
            for j in b.indices {
                let substitution = previous[j] + (character == b[j] ? 0 : 1)
                current.append(min(previous[j + 1] + 1, current[j] + 1, substitution))
            }
            previous = current
        }
        return previous[b.count]
    }
}
