import Foundation

/// What an input may claim before Reel plans any work for it. Headers are written by whoever made the
/// file: a few hundred bytes can claim a billion seconds or a 100 000-pixel-wide picture, and planning
/// for that (segment lists, chunk jobs, frames to encode) is the attack. Checked at probe time, so a
/// file over a limit fails at once with the limit named.
public struct MediaLimits: Sendable, Equatable {
    /// Longest stated duration, seconds.
    public var maxDuration: Double = 12 * 3600
    /// Largest coded width or height, pixels (8K is 7680 × 4320).
    public var maxDimension: Int = 8192
    /// Largest picture, pixels (8K UHD).
    public var maxPixels: Int = 7680 * 4320
    /// Highest source frame rate (phones record slow motion at 240).
    public var maxFrameRate: Double = 240
    /// Most streams in one container (a film with many audio and subtitle tracks has a few dozen).
    public var maxStreams: Int = 64
    /// The least data a second of stated duration can hold, bytes. A billion-second claim in a small
    /// file is refused; real media, even a still slide with quiet audio, is far above this (1 kbit/s).
    public var minBytesPerSecond: Double = 125

    public init() {}

    public static let standard = MediaLimits()

    /// The first limit `probe` is over, in words; nil when it is within all of them.
    func violation(of probe: ProbeResult, streamCount: Int) -> String? {
        if streamCount > maxStreams {
            return "it has \(streamCount) streams, more than the \(maxStreams) allowed"
        }
        if let duration = probe.duration {
            if !duration.isFinite || duration > maxDuration {
                return "it says it lasts \(Self.hours(duration)), longer than the \(Self.hours(maxDuration)) allowed"
            }
            let needed = duration * minBytesPerSecond
            if Double(probe.sizeBytes) < needed {
                return "it says it lasts \(Self.hours(duration)) but holds only \(probe.sizeBytes) bytes, too little for that"
            }
        }
        for stream in probe.streams where stream.isDefaultChoice {
            guard let video = stream.video else { continue }
            let (w, h) = (video.codedWidth, video.codedHeight)
            if w > maxDimension || h > maxDimension || w * h > maxPixels {
                return "its picture is \(w)×\(h), larger than the \(maxDimension) pixels a side (\(maxPixels / 1_000_000) megapixels) allowed"
            }
            if let rate = video.frameRateValue, !rate.isFinite || rate > maxFrameRate {
                return "its frame rate is \(String(format: "%.0f", rate)) per second, more than the \(Int(maxFrameRate)) allowed"
            }
        }
        return nil
    }

    static func hours(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "forever" }
        if seconds >= 3600 { return String(format: "%.1f h", seconds / 3600) }
        if seconds >= 60 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f s", seconds)
    }
}
