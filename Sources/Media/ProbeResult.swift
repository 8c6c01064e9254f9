/// What `reel probe` reports about a file. Codable so it prints as JSON and can be stored in a catalog.
public struct ProbeResult: Codable, Sendable, Equatable {
    public var path: String
    public var container: String
    public var containerLongName: String
    public var sizeBytes: Int64
    /// Seconds, when known.
    public var duration: Double?
    /// Bits per second over the whole file, when known.
    public var bitrate: Int?
    public var streams: [StreamInfo]

    public var video: StreamInfo? { streams.first { $0.kind == .video && $0.isDefaultChoice } }
    public var audio: StreamInfo? { streams.first { $0.kind == .audio && $0.isDefaultChoice } }
}

public struct StreamInfo: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case video, audio, subtitle, data, attachment, other }

    public var index: Int
    public var kind: Kind
    public var codec: String
    public var codecLongName: String?
    public var profile: String?
    public var bitrate: Int?
    /// The stream Reel would transcode for its kind.
    public var isDefaultChoice: Bool
    public var video: VideoDetails?
    public var audio: AudioDetails?
}

public struct VideoDetails: Codable, Sendable, Equatable {
    public var pixelFormat: String?
    public var bitDepth: Int?
    public var chromaSubsampling: String?
    public var codedWidth: Int
    public var codedHeight: Int
    /// Clockwise rotation, in degrees, needed to show the picture upright (0, 90, 180, 270).
    public var rotation: Int
    /// Size as a viewer sees it: sample aspect ratio applied, then rotation.
    public var displayWidth: Int
    public var displayHeight: Int
    public var sampleAspectRatio: String?
    /// Average frame rate as a fraction, e.g. "30000/1001".
    public var frameRate: String?
    public var frameRateValue: Double?
    public var variableFrameRate: Bool
    /// progressive, tff, bff, tb, bt or unknown.
    public var fieldOrder: String
}

public struct AudioDetails: Codable, Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    public var channelLayout: String
    public var sampleFormat: String?
}
