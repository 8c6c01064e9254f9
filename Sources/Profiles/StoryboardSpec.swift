/// The scrubbing previews of a profile (`storyboard:`): a thumbnail every `interval` seconds, tiled
/// `columns` × `rows` to a JPEG sprite sheet, indexed by a WebVTT file of `#xywh=` cues.
public struct StoryboardSpec: Sendable, Equatable {
    /// Seconds between thumbnails.
    public var interval: Double
    /// Thumbnail width in pixels (even); the height follows the picture's display aspect, even.
    public var width: Int
    /// Thumbnails per row and rows per sprite sheet.
    public var columns: Int
    public var rows: Int

    public init(interval: Double = 5, width: Int = 160, columns: Int = 10, rows: Int = 10) {
        self.interval = interval
        self.width = width
        self.columns = columns
        self.rows = rows
    }

    /// What a profile without a `storyboard` key gets: a 160-pixel thumbnail every 5 s, 10 × 10 a sheet
    /// (a sheet covers 500 s; a 16:9 sheet is 1600 × 900 and weighs about 100 KB).
    public static let standard = StoryboardSpec()

    /// Bounds the validation enforces: closer than a second apart is a second video stream; wider
    /// than 640 is no longer a thumbnail; a sheet of more than 20 × 20 would be many megabytes.
    public static let intervalRange = 1.0...600.0
    public static let widthRange = 32...640
    public static let gridRange = 1...20

    /// The thumbnail size for a picture of `width` × `height` (its display size): `self.width` wide
    /// (never wider than the picture), the height from the aspect, both even and at least 2.
    public func thumbnailSize(forPicture width: Int, _ height: Int) -> (width: Int, height: Int) {
        let w = max(2, min(self.width, width) & ~1)
        let h = height > 0 && width > 0 ? Int((Double(w) * Double(height) / Double(width) / 2).rounded()) * 2 : w
        return (w, max(2, h))
    }
}
