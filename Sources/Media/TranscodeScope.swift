/// Which part of a transcode to do. The unit of work is a range of globally numbered segments of the
/// source, so one video can be split across workers: chunks of video segments, plus one audio job for
/// the whole file (audio is never chunked, so it has no seams).
public struct TranscodeScope: Sendable, Codable, Equatable {
    public var video: Bool
    public var audio: Bool
    /// First global segment number to produce.
    public var firstSegment: Int64
    /// One past the last segment to produce; nil runs to the end of the source.
    public var endSegment: Int64?
    /// Write master and media playlists when done (a whole-file transcode); chunks leave that to
    /// whoever assembles them (`HLSAssembler`).
    public var writePlaylists: Bool
    /// The video rungs to encode, by name; nil for all. The first piece of a video is split this way so
    /// idle workers encode its rungs side by side. Timeline, timestamps and init segments do not depend on
    /// it: a rung encoded in a group comes out as it would with every rung.
    public var rungs: [String]?

    public init(video: Bool = true, audio: Bool = true, firstSegment: Int64 = 0, endSegment: Int64? = nil, writePlaylists: Bool = true,
                rungs: [String]? = nil) {
        self.rungs = rungs
        self.video = video
        self.audio = audio
        self.firstSegment = firstSegment
        self.endSegment = endSegment
        self.writePlaylists = writePlaylists
    }

    /// Everything, with playlists: what `reel transcode` does.
    public static let whole = TranscodeScope()

    /// Video segments `first..<end` (nil: to the end) of every rung, no playlists.
    public static func videoChunk(_ first: Int64, _ end: Int64?, rungs: [String]? = nil) -> TranscodeScope {
        TranscodeScope(video: true, audio: false, firstSegment: first, endSegment: end, writePlaylists: false, rungs: rungs)
    }

    /// The whole audio track, no playlists.
    public static let audioOnly = TranscodeScope(video: false, audio: true, writePlaylists: false)

    var isWholeFile: Bool { firstSegment == 0 && endSegment == nil && rungs == nil }
}
