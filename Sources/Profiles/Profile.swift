/// One rung of a ladder as written in the profile; `RungPlanner` turns it into a `PlannedRung` for a source.
public struct RungSpec: Sendable, Equatable {
    public var name: String
    /// Size of the SHORT side of the picture ("720p" is 1280x720 landscape or 720x1280 portrait).
    public var height: Int
    /// Average video bitrate, bits per second.
    public var videoBitrate: Int
    /// Peak bitrate (encoder maxrate), bits per second.
    public var peakBitrate: Int
    /// H.264 profile: "baseline", "main" or "high".
    public var codecProfile: String
    /// H.264 level, e.g. "3.1" (canonical "major.minor" form after load).
    public var level: String
    /// Frame-rate cap; faster sources are divided down by a whole number.
    public var maxFrameRate: Double

    public init(
        name: String, height: Int, videoBitrate: Int, peakBitrate: Int,
        codecProfile: String, level: String, maxFrameRate: Double
    ) {
        self.name = name
        self.height = height
        self.videoBitrate = videoBitrate
        self.peakBitrate = peakBitrate
        self.codecProfile = codecProfile
        self.level = level
        self.maxFrameRate = maxFrameRate
    }
}

public struct AudioSpec: Sendable, Equatable {
    /// "aac" (AAC-LC) only for now.
    public var codec: String
    /// Bits per second.
    public var bitrate: Int
    public var channels: Int
    /// Hz.
    public var sampleRate: Int

    public init(codec: String, bitrate: Int, channels: Int, sampleRate: Int) {
        self.codec = codec
        self.bitrate = bitrate
        self.channels = channels
        self.sampleRate = sampleRate
    }

    /// AAC-LC stereo 128 kb/s 48 kHz: what a profile gets when it has no `audio` section.
    public static let standard = AudioSpec(codec: "aac", bitrate: 128_000, channels: 2, sampleRate: 48_000)
}

/// The static renditions offered as downloads once a video is ready: a progressive MP4 of one rung and
/// the audio as `audio.m4a`, remuxed from the HLS segments (no re-encoding).
public struct DownloadSpec: Sendable, Equatable {
    public enum Video: Sendable, Equatable {
        case off
        /// The tallest rung made for the video.
        case highest
        /// This rung, or the tallest made when the source did not reach it.
        case rung(String)
    }

    public var video: Video
    /// `audio.m4a`, when the video has sound.
    public var audio: Bool

    public init(video: Video, audio: Bool) {
        self.video = video
        self.audio = audio
    }

    /// What a profile without a `downloads` section gets: none.
    public static let off = DownloadSpec(video: .off, audio: false)

    public var isOn: Bool { video != .off || audio }

    /// The rung whose MP4 is offered, among the video rungs made (name and height); nil when off or none.
    public func videoRung(among made: [(name: String, height: Int)]) -> String? {
        let highest = made.max { $0.height < $1.height }?.name
        switch video {
        case .off: return nil
        case .highest: return highest
        case .rung(let name): return made.contains { $0.name == name } ? name : highest
        }
    }
}

/// A rendition ladder loaded from `profiles/<name>.yaml`.
public struct Profile: Sendable, Equatable {
    public var name: String
    /// Sorted by height ascending after load.
    public var rungs: [RungSpec]
    public var audio: AudioSpec
    /// Seconds; a whole multiple of `keyframeInterval`.
    public var segmentDuration: Double
    /// Seconds between forced IDR frames (the same timestamps on every rung).
    public var keyframeInterval: Double
    /// libx264 preset, e.g. "veryfast".
    public var preset: String
    /// Static renditions made after the video is ready.
    public var downloads: DownloadSpec
    /// Scrubbing previews; nil when the profile turns them off (`storyboard: off`).
    public var storyboard: StoryboardSpec?

    public init(
        name: String, rungs: [RungSpec], audio: AudioSpec = .standard,
        segmentDuration: Double = ProfileDefaults.segmentDuration,
        keyframeInterval: Double = ProfileDefaults.keyframeInterval,
        preset: String = ProfileDefaults.preset,
        downloads: DownloadSpec = .off,
        storyboard: StoryboardSpec? = .standard
    ) {
        self.storyboard = storyboard
        self.name = name
        self.rungs = rungs
        self.audio = audio
        self.segmentDuration = segmentDuration
        self.keyframeInterval = keyframeInterval
        self.preset = preset
        self.downloads = downloads
    }
}

/// Values used for keys a profile file leaves out.
public enum ProfileDefaults {
    public static let segmentDuration: Double = 6
    public static let keyframeInterval: Double = 2
    public static let preset = "veryfast"
    /// `peak` defaults to 1.3 × `bitrate` (see `peak(forBitrate:)`), the ratio the shipped ladders use
    /// (Apple's authoring spec allows up to 2× for VOD).
    public static let peakRatio: Double = 1.3
    /// The default peak for a bitrate: 1.3 × bitrate to the nearest kb/s (365k → 475k).
    public static func peak(forBitrate bitrate: Int) -> Int {
        let kilobits = (Double(bitrate) * peakRatio / 1_000).rounded()
        return max(Int(kilobits) * 1_000, bitrate)
    }
    public static let codecProfile = "high"
    public static let maxFrameRate: Double = 60
    /// What the planner uses when the source does not say its frame rate.
    public static let unknownSourceFrameRate = FrameRate(num: 30, den: 1)
}
