import Foundation

/// One problem found in a profile file, located at the YAML node it concerns.
public struct ProfileIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem is not about a place in the file (e.g. it cannot be read).
    public var line: Int
    /// 1-based; 0 when `line` is 0.
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// "profiles/default.yaml:12:5: rung '720p': bitrate must be positive" — the compiler-style
    /// form editors and terminals turn into a link.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

/// Every problem found while loading a profile, in file order.
public struct ProfileError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public var issues: [ProfileIssue]

    public init(issues: [ProfileIssue]) {
        self.issues = issues
    }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }

    public var errorDescription: String? { description }
}
