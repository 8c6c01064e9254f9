import CFFmpeg
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
    /// Audio sample rates accepted (a 1 Hz header turns every packet into gigabytes once resampled).
    public var sampleRates: ClosedRange<Int> = 1000...384_000

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
            if let audio = stream.audio, !sampleRates.contains(audio.sampleRate) {
                return "its audio has \(audio.sampleRate) samples a second, outside the \(sampleRates.lowerBound)…\(sampleRates.upperBound) allowed"
            }
            guard let video = stream.video else { continue }
            // The coded size is what gets decoded, the display size what gets planned: both are bounded.
            for (w, h) in [(video.codedWidth, video.codedHeight), (video.displayWidth, video.displayHeight)] {
                if w > maxDimension || h > maxDimension || w.multipliedReportingOverflow(by: h).overflow || w * h > maxPixels {
                    return "its picture is \(w)×\(h), larger than the \(maxDimension) pixels a side (\(maxPixels / 1_000_000) megapixels) allowed"
                }
            }
            if let rate = video.frameRateValue, !rate.isFinite || rate > maxFrameRate {
                return "its frame rate is \(String(format: "%.0f", rate)) per second, more than the \(Int(maxFrameRate)) allowed"
            }
        }
        return nil
    }

    /// What may be refused before FFmpeg decodes anything (`avformat_find_stream_info` opens a decoder
    /// per stream and keeps its pictures): too many streams, or more pixels across the video streams
    /// than two of the largest pictures allowed.
    func violation(streams: [UnsafeMutablePointer<AVStream>]) -> String? {
        if streams.count > maxStreams {
            return "it has \(streams.count) streams, more than the \(maxStreams) allowed"
        }
        var pixels = 0
        for stream in streams where stream.parameters.codec_type == AVMEDIA_TYPE_VIDEO
            && stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0 {
            let (w, h) = (Int(max(stream.parameters.width, 0)), Int(max(stream.parameters.height, 0)))
            pixels += min(w * h, maxPixels + 1)
        }
        if pixels > 2 * maxPixels {
            return "its video streams hold \(pixels / 1_000_000) megapixels a picture together, more than the \(2 * maxPixels / 1_000_000) allowed"
        }
        return nil
    }

    /// The latest output time a file may reach: the longest duration allowed, what its stated duration
    /// suggests (with room for a container that under-states it), and what its bytes can hold.
    func latestOutputTime(statedDuration: Double?, fileSize: Int64) -> Double {
        var latest = min(maxDuration, Double(fileSize) / max(minBytesPerSecond, 1e-9))
        if let statedDuration, statedDuration.isFinite, statedDuration > 0 {
            latest = min(latest, statedDuration * 1.5 + 60)
        }
        return max(latest, 1)
    }

    static func hours(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "forever" }
        if seconds >= 3600 { return String(format: "%.1f h", seconds / 3600) }
        if seconds >= 60 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f s", seconds)
    }
}
