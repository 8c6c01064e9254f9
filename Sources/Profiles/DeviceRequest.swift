import Foundation

/// What the streaming handler knows about the client asking for a master playlist:
/// raw header values as received (nil when absent) and the `?device=` query value.
public struct DeviceRequest: Sendable, Hashable {
    /// `User-Agent`.
    public var userAgent: String?
    /// `Sec-CH-UA-Mobile` as sent: `?1` (mobile) or `?0`.
    public var mobileHint: String?
    /// `Sec-CH-UA-Platform` as sent, usually quoted: `"Android"`, `"Windows"`.
    public var platformHint: String?
    /// True when the request carried `Save-Data: on` (see `isSaveDataOn`).
    public var saveData: Bool
    /// `?device=NAME`; overrides detection. Empty means not given.
    public var explicitClass: String?

    public init(
        userAgent: String? = nil, mobileHint: String? = nil, platformHint: String? = nil,
        saveData: Bool = false, explicitClass: String? = nil
    ) {
        self.userAgent = userAgent
        self.mobileHint = mobileHint
        self.platformHint = platformHint
        self.saveData = saveData
        self.explicitClass = explicitClass
    }

    /// `Save-Data` header value → flag. The header is a list of tokens; `on` asks for less data.
    public static func isSaveDataOn(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { token in
            let word = token.split(separator: ";").first ?? ""
            return word.trimmingCharacters(in: .whitespaces).lowercased() == "on"
        }
    }

    /// `?1` → true, `?0` → false (structured-field booleans); anything else → nil.
    var isMobile: Bool? {
        switch mobileHint?.trimmingCharacters(in: .whitespaces) {
        case "?1": true
        case "?0": false
        default: nil
        }
    }

    /// The platform without the quotes of the structured-field string: `"Android"` → `Android`.
    var platform: String? {
        guard var text = platformHint?.trimmingCharacters(in: .whitespaces) else { return nil }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            text = String(text.dropFirst().dropLast())
        }
        return text.isEmpty ? nil : text
    }
}
