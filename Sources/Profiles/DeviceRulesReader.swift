import Foundation
import Yams

/// Turns a composed `devices.yaml` tree into `DeviceRules`, collecting every problem with the
/// line and column of the node at fault. Shares the field helpers (unknown keys with "did you
/// mean", numbers, bitrates) with the profile reader, so both files report problems alike.
struct DeviceRulesReader {
    static let topLevelKeys = ["classes", "save_data"]
    static let classKeys = ["name", "match", "max_height", "max_bandwidth", "start_height"]
    static let ruleKeys = [
        "user_agent_any", "user_agent_all", "user_agent_none", "user_agent_regex", "mobile_hint", "platform",
    ]
    static let saveDataKeys = ["max_height", "max_bandwidth"]

    private var base: ProfileReader

    init(file: String) {
        base = ProfileReader(file: file)
    }

    var issues: [ProfileIssue] { base.issues }

    mutating func read(root: Node?) -> DeviceRules? {
        guard let root, !base.isNull(root) else {
            base.report("the file is empty; it needs a 'classes' list "
                + "(or delete it: every client then gets the full ladder)", at: nil)
            return nil
        }
        guard root.mapping != nil else {
            base.report("the file must be a mapping with 'classes' and 'save_data', got \(base.describe(root))", at: root)
            return nil
        }
        guard let fields = base.fields(of: root, context: "", allowed: Self.topLevelKeys) else { return nil }
        let classes = readClasses(fields)
        var saveData: SaveDataRule?
        if let node = fields.value("save_data"), !base.isNull(node) {
            saveData = readSaveData(node)
        }
        guard base.issues.isEmpty else { return nil }
        return DeviceRules(classes: classes, saveData: saveData)
    }

    // MARK: Classes

    private mutating func readClasses(_ fields: ProfileReader.Fields) -> [DeviceClass] {
        guard let node = fields.value("classes") else {
            base.report("missing required key 'classes' (the list of device classes, first match wins)", at: fields.node)
            return []
        }
        if base.isNull(node) { return [] }
        guard let sequence = node.sequence else {
            base.report("classes must be a list of device classes (each item starting with '- '), got \(base.describe(node))",
                        at: node)
            return []
        }
        var classes: [DeviceClass] = []
        var firstUse: [String: Node] = [:]
        for (index, item) in sequence.enumerated() {
            guard let (deviceClass, nameNode) = readClass(item, number: index + 1) else { continue }
            if let first = firstUse[deviceClass.name] {
                base.report("class '\(deviceClass.name)': duplicate class name (first used at line \(first.mark?.line ?? 0))",
                            at: nameNode)
                continue
            }
            firstUse[deviceClass.name] = nameNode
            classes.append(deviceClass)
        }
        return classes
    }

    private mutating func readClass(_ node: Node, number: Int) -> (DeviceClass, Node)? {
        let label: String
        if let name = node.mapping?["name"]?.scalar?.string, !name.isEmpty {
            label = "class '\(name)'"
        } else {
            label = "class #\(number)"
        }
        let context = "\(label): "
        guard let fields = base.fields(of: node, context: context, allowed: Self.classKeys) else { return nil }

        var name = base.string("name", in: fields, required: true)
        if let given = name, !isValidClassName(given) {
            base.report("\(context)name '\(given)' may only use lowercase letters, digits, '-' and '_' "
                + "(it is what ?device= takes)", at: fields.value("name"))
            name = nil
        } else if name == DeviceRules.unknownClassName {
            base.report("\(context)'\(DeviceRules.unknownClassName)' is reserved for clients no class matches "
                + "(they get the full ladder); pick another name", at: fields.value("name"))
            name = nil
        }
        let maxHeight = base.positiveInt("max_height", in: fields, required: true)
        let startHeight = base.positiveInt("start_height", in: fields, required: true)
        if let maxHeight, let startHeight, startHeight > maxHeight {
            base.report("\(context)start_height (\(startHeight)) must not be above max_height (\(maxHeight))",
                        at: fields.value("start_height"))
        }
        let maxBandwidth = base.bitrate("max_bandwidth", in: fields)
        let rules = readMatch(fields, context: context)

        guard let name, let maxHeight, let startHeight, let rules,
              maxBandwidth != nil || !fields.has("max_bandwidth")
        else { return nil }
        let deviceClass = DeviceClass(
            name: name, rules: rules, maxHeight: maxHeight, maxBandwidth: maxBandwidth, startHeight: startHeight)
        return (deviceClass, fields.value("name") ?? node)
    }

    /// No `match` (or an empty one) is allowed: such a class is chosen only with `?device=NAME`.
    private mutating func readMatch(_ fields: ProfileReader.Fields, context: String) -> [DeviceMatchRule]? {
        guard let node = fields.value("match"), !base.isNull(node) else { return [] }
        guard let sequence = node.sequence else {
            base.report("\(context)match must be a list of rules (each item starting with '- '), got \(base.describe(node))",
                        at: node)
            return nil
        }
        var rules: [DeviceMatchRule] = []
        var complete = true
        for (index, item) in sequence.enumerated() {
            if let rule = readRule(item, context: "\(context)match #\(index + 1): ") {
                rules.append(rule)
            } else {
                complete = false
            }
        }
        return complete ? rules : nil
    }

    private mutating func readRule(_ node: Node, context: String) -> DeviceMatchRule? {
        guard let fields = base.fields(of: node, context: context, allowed: Self.ruleKeys) else { return nil }
        let before = base.issues.count
        var rule = DeviceMatchRule()
        rule.userAgentAny = stringList("user_agent_any", in: fields)
        rule.userAgentAll = stringList("user_agent_all", in: fields)
        rule.userAgentNone = stringList("user_agent_none", in: fields)
        rule.platforms = stringList("platform", in: fields)
        if let pattern = base.scalarText("user_agent_regex", in: fields) {
            if pattern.isEmpty {
                base.report("\(context)user_agent_regex must not be empty (it would match everything)",
                            at: fields.value("user_agent_regex"))
            } else if let compiled = UserAgentPattern(pattern) {
                rule.userAgentRegex = compiled
            } else {
                base.report("\(context)user_agent_regex '\(pattern)' is not a valid regular expression",
                            at: fields.value("user_agent_regex"))
            }
        }
        if let text = base.scalarText("mobile_hint", in: fields) {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true": rule.mobileHint = true
            case "false": rule.mobileHint = false
            default:
                base.report("\(context)mobile_hint must be true (Sec-CH-UA-Mobile: ?1) or false (?0), got '\(text)'",
                            at: fields.value("mobile_hint"))
            }
        }
        // A rule without conditions would match every client, including curl: almost surely a mistake.
        if fields.entries.isEmpty {
            base.report("\(context)a rule needs at least one condition (\(Self.ruleKeys.joined(separator: ", ")))",
                        at: node)
        }
        return base.issues.count == before ? rule : nil
    }

    /// A single text or a list of texts, none empty.
    private mutating func stringList(_ key: String, in fields: ProfileReader.Fields) -> [String] {
        guard let node = fields.value(key) else { return [] }
        let items = node.sequence.map(Array.init) ?? [node]
        if items.isEmpty {
            base.report("\(fields.context)\(key) is an empty list; remove the key or add values", at: node)
        }
        var values: [String] = []
        for item in items {
            guard let text = item.scalar?.string, !base.isNull(item) else {
                base.report("\(fields.context)\(key) must be a text or a list of texts, got \(base.describe(item))", at: item)
                continue
            }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else {
                base.report("\(fields.context)\(key) must not contain an empty text (it would match everything)", at: item)
                continue
            }
            values.append(trimmed)
        }
        return values
    }

    // MARK: Save-Data

    private mutating func readSaveData(_ node: Node) -> SaveDataRule? {
        guard let fields = base.fields(of: node, context: "save_data: ", allowed: Self.saveDataKeys) else { return nil }
        return SaveDataRule(
            maxHeight: base.positiveInt("max_height", in: fields),
            maxBandwidth: base.bitrate("max_bandwidth", in: fields))
    }

    private func isValidClassName(_ name: String) -> Bool {
        name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }
}
