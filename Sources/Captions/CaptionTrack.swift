import Foundation

/// One caption track of a video, as listed by the API and named in the master playlist.
public struct CaptionTrack: Sendable, Codable, Equatable {
    public enum Source: String, Sendable, Codable { case upload, embedded }

    public var id: String
    /// A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant`).
    public var language: String
    public var label: String
    public var source: Source
    public var isDefault: Bool
    public var cueCount: Int
    public var created: Date

    public init(id: String, language: String, label: String, source: Source, isDefault: Bool, cueCount: Int, created: Date) {
        self.id = id
        self.language = language
        self.label = label
        self.source = source
        self.isDefault = isDefault
        self.cueCount = cueCount
        self.created = created
    }

    /// The folder of its segmented WebVTT under the video's HLS folder.
    public var renditionName: String { "subs-\(id)" }

    /// A BCP 47 tag in its common shape: a 2–3 letter (or 4–8 letter registered) language, then subtags
    /// of 1–8 letters or digits. Checked by shape only; the registry is not consulted.
    public static func isLanguageTag(_ tag: String) -> Bool {
        let parts = tag.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, tag.utf8.count <= 35, (2...8).contains(first.count),
              first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return false }
        return parts.dropFirst().allSatisfy { (1...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
    }
}
