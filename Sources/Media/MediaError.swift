/// What can go wrong with a file a person gave us, in words they understand.
/// `isPermanent` tells a job queue whether retrying could ever help.
public enum MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadable(path: String, reason: String)
    /// The file has zero bytes.
    case emptyFile(path: String)
    /// No container format recognised the bytes.
    case notMedia(path: String)
    /// A container or file kind Reel never opens (playlists, scripts, image sequences, archives…).
    case notAccepted(path: String, kind: String)
    /// The file claims more than an operator's limits allow (duration, size, frame rate, streams…).
    case exceedsLimit(path: String, detail: String)
    /// Processing ran past the time allowed for it.
    case timedOut(path: String, seconds: Int)
    /// The container was recognised but its data ends early or is damaged.
    case truncated(path: String, detail: String)
    /// The file holds no video or audio stream we can decode.
    case noUsableStream(path: String, detail: String)
    /// A stream uses a codec this FFmpeg build cannot decode.
    case unsupportedCodec(path: String, codec: String)
    /// Writing the output failed (disk full, permissions…).
    case outputFailed(path: String, reason: String)
    /// An encoder or other library step failed; not the input's fault as far as we can tell.
    case internalFailure(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "Cannot read \(path): \(reason)."
        case let .emptyFile(path):
            return "\(path) is empty (0 bytes); upload the file again."
        case let .notMedia(path):
            return "\(path) is not a video or audio file that Reel recognises."
        case let .notAccepted(path, kind):
            return "\(path) is in a format Reel does not accept: \(kind). Upload the video itself (\(AcceptedInput.acceptedSummary))."
        case let .exceedsLimit(path, detail):
            return "\(path) cannot be processed: \(detail)."
        case let .timedOut(path, seconds):
            return "Processing \(path) took longer than the \(seconds) s allowed for it, so it was stopped; the file may be damaged."
        case let .truncated(path, detail):
            return "\(path) looks cut short or damaged, so it cannot be read to the end (\(detail)); upload the complete file again."
        case let .noUsableStream(path, detail):
            return "\(path) has no video or audio stream Reel can use (\(detail))."
        case let .unsupportedCodec(path, codec):
            return "\(path) uses the codec '\(codec)', which this Reel build cannot decode."
        case let .outputFailed(path, reason):
            return "Cannot write the output at \(path): \(reason)."
        case let .internalFailure(detail):
            return "Transcoding failed: \(detail)."
        }
    }

    /// A short machine-readable kind, for JSON and the job queue.
    public var kind: String {
        switch self {
        case .unreadable: "unreadable"
        case .emptyFile: "empty_file"
        case .notMedia: "not_media"
        case .notAccepted: "not_accepted"
        case .exceedsLimit: "exceeds_limit"
        case .timedOut: "timed_out"
        case .truncated: "truncated"
        case .noUsableStream: "no_usable_stream"
        case .unsupportedCodec: "unsupported_codec"
        case .outputFailed: "output_failed"
        case .internalFailure: "internal_failure"
        }
    }

    /// True when the same input would fail the same way again, so a retry is pointless.
    public var isPermanent: Bool {
        switch self {
        case .emptyFile, .notMedia, .notAccepted, .exceedsLimit, .timedOut, .truncated, .noUsableStream, .unsupportedCodec: true
        case .unreadable, .outputFailed, .internalFailure: false
        }
    }
}
