import Foundation
import Yams

/// Reads `devices.yaml` text or files into `DeviceRules`, reporting problems like `ProfileLoader`.
enum DeviceRulesLoader {
    static func parse(yaml: String, file: String) throws(ProfileError) -> DeviceRules {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ProfileError(issues: [ProfileLoader.syntaxIssue(error, file: file)])
        } catch {
            throw ProfileError(issues: [ProfileIssue(file: file, line: 0, column: 0, message: "invalid YAML: \(error)")])
        }
        var reader = DeviceRulesReader(file: file)
        guard let rules = reader.read(root: root) else {
            let sorted = reader.issues.enumerated().sorted { a, b in
                (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
            }
            throw ProfileError(issues: sorted.map(\.element))
        }
        return rules
    }

    static func load(from url: URL) throws(ProfileError) -> DeviceRules {
        let path = url.path
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file as UTF-8 text" : "no such file"
            throw ProfileError(issues: [ProfileIssue(file: path, line: 0, column: 0, message: reason)])
        }
        return try parse(yaml: text, file: path)
    }
}
