import Foundation
import Profiles

/// Where a transcode is, reported a few times a second.
public struct TranscodeProgress: Sendable {
    /// 0…1 of the source's duration.
    public var fraction: Double
    /// Output frames of the top rung so far.
    public var frames: Int
    /// Seconds of media processed per second of wall time.
    public var speed: Double
}

/// What a finished transcode produced, relative to its output directory.
public struct TranscodeResult: Sendable, Codable, Equatable {
    public struct Rendition: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String           // "video" or "audio"
        public var width: Int?
        public var height: Int?
        public var frameRate: Double?
        public var codecs: String
        public var peakBitrate: Int
        public var averageBitrate: Int
        public var segments: Int
        public var duration: Double
    }
    public var masterPlaylist: String
    public var poster: String?
    public var duration: Double
    public var renditions: [Rendition]
}

/// The transcoding engine's front door. Decodes the source once, fans each picture out to every rung of
/// the ladder, encodes audio once, and writes a CMAF/HLS ladder into `directory` (which the caller
/// publishes atomically). FFmpeg work runs on a dedicated thread, never on Swift's cooperative pool;
/// all FFmpeg handles are created and freed on that thread.
public enum Transcoder {
    public static func transcode(
        input: String,
        into directory: URL,
        profile: Profile,
        progress: (@Sendable (TranscodeProgress) -> Void)? = nil,
        isCancelled: @escaping @Sendable () -> Bool = { false }
    ) async throws(MediaError) -> TranscodeResult {
        let outcome: Result<TranscodeResult, MediaError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                let result = Result { () throws(MediaError) -> TranscodeResult in
                    let session = try TranscodeSession(input: input, directory: directory, profile: profile,
                                                       progress: progress, isCancelled: isCancelled)
                    return try session.run()
                }
                continuation.resume(returning: result)
            }
            thread.name = "reel-transcode"
            thread.stackSize = 8 << 20
            thread.start()
        }
        return try outcome.get()
    }
}
