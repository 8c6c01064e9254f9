import Foundation

/// The operator's rules from `profiles/devices.yaml`: which device classes exist, how each is
/// recognised, and how the master playlist is trimmed and ordered for it.
public struct DeviceRules: Sendable, Equatable {
    /// In matching order: the first class with a matching rule wins.
    public var classes: [DeviceClass]
    /// Applied on top of any class when the request carries `Save-Data: on`; nil = ignore Save-Data.
    public var saveData: SaveDataRule?

    public init(classes: [DeviceClass], saveData: SaveDataRule? = nil) {
        self.classes = classes
        self.saveData = saveData
    }

    /// No classes and no Save-Data rule: every client gets the full ladder, untouched.
    /// What the server uses when `devices.yaml` does not exist.
    public static let fallback = DeviceRules(classes: [])

    /// The rules file's name inside the profiles directory.
    public static let fileName = "devices.yaml"

    /// The class name of clients no class matches (they get the full ladder).
    /// Reserved: a class in the file may not use it, but `?device=unknown` asks for the full ladder.
    public static let unknownClassName = "unknown"

    /// Every name `?device=` accepts, in matching order, `unknown` last.
    public var classNames: [String] {
        classes.map(\.name) + [Self.unknownClassName]
    }

    /// Parses and validates rules YAML. `file` is only used in messages.
    /// Throws every problem found, each with the line and column of the node at fault.
    public static func parse(yaml: String, file: String) throws(ProfileError) -> DeviceRules {
        try DeviceRulesLoader.parse(yaml: yaml, file: file)
    }

    /// Reads and parses a rules file; a missing or unreadable file is a `ProfileError` too.
    public static func load(from url: URL) throws(ProfileError) -> DeviceRules {
        try DeviceRulesLoader.load(from: url)
    }

    /// Like `load`, but a file that does not exist gives `fallback` (tailoring is optional;
    /// a file that exists but is broken is still an error, so typos never pass silently).
    public static func loadIfPresent(from url: URL) throws(ProfileError) -> DeviceRules {
        guard FileManager.default.fileExists(atPath: url.path) else { return fallback }
        return try load(from: url)
    }
}

/// One device class ("phone", "tv", …) as written in `devices.yaml`.
public struct DeviceClass: Sendable, Equatable {
    /// Lowercase letters, digits, '-' and '_'; what `?device=` and `Reel-Device-Class` use.
    public var name: String
    /// Any one matching rule puts a request in this class. Empty: only `?device=NAME` selects it.
    public var rules: [DeviceMatchRule]
    /// No variant taller than this (the SHORT side of the picture, so portrait 720x1280 counts as 720).
    public var maxHeight: Int
    /// No variant whose BANDWIDTH (its peak) is above this, bits per second; nil = no cap.
    public var maxBandwidth: Int?
    /// The variant closest to this height without going over is listed first: players start with it.
    public var startHeight: Int

    public init(name: String, rules: [DeviceMatchRule], maxHeight: Int, maxBandwidth: Int? = nil, startHeight: Int) {
        self.name = name
        self.rules = rules
        self.maxHeight = maxHeight
        self.maxBandwidth = maxBandwidth
        self.startHeight = startHeight
    }
}

/// One way of recognising a class. Every condition that is set must hold (AND);
/// the class's rules are alternatives (OR).
public struct DeviceMatchRule: Sendable, Equatable {
    /// The User-Agent contains at least one of these (case-insensitive).
    public var userAgentAny: [String]
    /// The User-Agent contains every one of these (case-insensitive).
    public var userAgentAll: [String]
    /// The User-Agent contains none of these (case-insensitive).
    public var userAgentNone: [String]
    /// The User-Agent matches this regular expression (case-sensitive unless it starts with `(?i)`).
    public var userAgentRegex: UserAgentPattern?
    /// `Sec-CH-UA-Mobile` is `?1` (true) or `?0` (false); a request without the header does not match.
    public var mobileHint: Bool?
    /// `Sec-CH-UA-Platform` (quotes removed) is one of these (case-insensitive).
    public var platforms: [String]

    public init(
        userAgentAny: [String] = [], userAgentAll: [String] = [], userAgentNone: [String] = [],
        userAgentRegex: UserAgentPattern? = nil, mobileHint: Bool? = nil, platforms: [String] = []
    ) {
        self.userAgentAny = userAgentAny
        self.userAgentAll = userAgentAll
        self.userAgentNone = userAgentNone
        self.userAgentRegex = userAgentRegex
        self.mobileHint = mobileHint
        self.platforms = platforms
    }
}

/// What `Save-Data: on` changes: lower caps, and the lowest variant listed first.
public struct SaveDataRule: Sendable, Equatable {
    public var maxHeight: Int?
    /// Bits per second, compared with each variant's BANDWIDTH.
    public var maxBandwidth: Int?

    public init(maxHeight: Int? = nil, maxBandwidth: Int? = nil) {
        self.maxHeight = maxHeight
        self.maxBandwidth = maxBandwidth
    }
}

/// A compiled User-Agent regular expression, compared by its pattern text.
public struct UserAgentPattern: Sendable, Equatable {
    public let pattern: String
    private let regex: NSRegularExpression

    /// Nil when the pattern does not compile.
    public init?(_ pattern: String) {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        self.pattern = pattern
        self.regex = regex
    }

    public func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    public static func == (lhs: UserAgentPattern, rhs: UserAgentPattern) -> Bool {
        lhs.pattern == rhs.pattern
    }
}
