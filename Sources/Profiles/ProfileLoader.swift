import Foundation
import Yams

/// Reads profiles from YAML text, files, or names in a profiles directory.
public enum ProfileLoader {
    /// Parses and validates profile YAML. `file` is only used in messages (and as the default name).
    /// Throws every problem found, each with the line and column of the node at fault.
    public static func parse(yaml: String, file: String) throws(ProfileError) -> Profile {
        var reader = ProfileReader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ProfileError(issues: [syntaxIssue(error, file: file)])
        } catch {
            throw ProfileError(issues: [ProfileIssue(file: file, line: 0, column: 0, message: "invalid YAML: \(error)")])
        }
        guard let profile = reader.read(root: root) else {
            let sorted = reader.issues.enumerated().sorted { a, b in
                (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
            }
            throw ProfileError(issues: sorted.map(\.element))
        }
        return profile
    }

    /// Reads and parses a profile file; throws `ProfileError` for an unreadable file too.
    public static func load(path: String) throws -> Profile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file as UTF-8 text" : "no such file"
            throw ProfileError(issues: [ProfileIssue(file: path, line: 0, column: 0, message: reason)])
        }
        return try parse(yaml: text, file: path)
    }

    /// `nameOrPath`: a path to a .yaml file, or a bare name looked up as `<directory>/<name>.yaml`.
    /// Anything with a `/` or a `.yaml`/`.yml` ending is taken as a path.
    public static func resolve(_ nameOrPath: String, profilesDirectory: String) throws -> Profile {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            return try load(path: nameOrPath)
        }
        let path = (profilesDirectory as NSString).appendingPathComponent("\(nameOrPath).yaml")
        guard FileManager.default.fileExists(atPath: path) else {
            let available = availableProfiles(in: profilesDirectory)
            let hint = available.isEmpty
                ? "the directory has no .yaml profiles"
                : "available: \(available.joined(separator: ", "))"
            throw ProfileError(issues: [ProfileIssue(
                file: path, line: 0, column: 0, message: "no profile named '\(nameOrPath)' (\(hint))"
            )])
        }
        return try load(path: path)
    }

    /// Names of the `.yaml` profiles in a directory, sorted ("default", "small"); the device rules
    /// (`devices.yaml`) live beside them but are not a profile.
    public static func availableProfiles(in directory: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") && $0 != DeviceRules.fileName }
            .map { String($0.dropLast(".yaml".count)) }
            .sorted()
    }

    /// Finds the profiles directory, first match wins:
    /// 1. `$REEL_PROFILES_DIR` when set (returned even if missing, so the error names what the operator set);
    /// 2. `./profiles`;
    /// 3. `<executable dir>/../share/reel/profiles` (installed layout);
    /// 4. `profiles` next to the executable's directory or any of its 5 nearest ancestors
    ///    (finds the checkout from `.build/<triple>/debug/reel`).
    /// Returns nil if none exists.
    public static func defaultProfilesDirectory() -> String? {
        if let configured = ProcessInfo.processInfo.environment["REEL_PROFILES_DIR"], !configured.isEmpty {
            return configured
        }
        let manager = FileManager.default
        var candidates = [(manager.currentDirectoryPath as NSString).appendingPathComponent("profiles")]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var directory = executable.deletingLastPathComponent()
            candidates.append(directory.appendingPathComponent("../share/reel/profiles").standardizedFileURL.path)
            for _ in 0..<6 {
                candidates.append(directory.appendingPathComponent("profiles").path)
                directory = directory.deletingLastPathComponent()
            }
        }
        return candidates.first { isDirectory($0) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    /// A YAML syntax error as an issue with its line and column (profiles and device rules alike).
    static func syntaxIssue(_ error: YamlError, file: String) -> ProfileIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            return ProfileIssue(file: file, line: mark.line, column: mark.column, message: message)
        default:
            return ProfileIssue(file: file, line: 0, column: 0, message: "invalid YAML: \(error)")
        }
    }
}
