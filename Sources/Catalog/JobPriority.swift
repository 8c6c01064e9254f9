import Foundation

/// The one policy for which job runs first. A claim takes the highest priority, then the job waiting
/// longest, then the oldest; everything that enqueues work (ingest, uploads, planning) takes its
/// priorities from here, so the order is decided in one place.
///
/// - A plan job comes before everything: planning takes a second and unlocks all the rest.
/// - Short videos before long ones: a video's pieces start from 100 less one per minute of media
///   (never below 0), so a short clip is not stuck behind a feature film's chunks.
/// - Within a video: its finalize (which can only run once its pieces are done), then its first chunk
///   and its audio (together they make the video playable), then its other chunks.
/// - Downloads (made once a video is ready) last of all.
public enum JobPriority {
    public static let plan = 1000

    public static func videoChunk(_ index: Int, videoSeconds: Double) -> Int {
        base(videoSeconds: videoSeconds) + (index == 0 ? firstPieces : 0)
    }

    public static func audio(videoSeconds: Double) -> Int { base(videoSeconds: videoSeconds) + firstPieces }

    public static func finalize(videoSeconds: Double) -> Int { base(videoSeconds: videoSeconds) + 60 }

    /// Downloads are extras of a video that already plays: after every piece of work that makes a
    /// video playable, of any video.
    public static let downloads = -1

    /// What the first chunk and the audio get above the other chunks.
    private static let firstPieces = 50

    private static func base(videoSeconds: Double) -> Int { max(0, 100 - Int(videoSeconds / 60)) }
}

extension NewJob {
    /// A new video's first job: probing it and planning its pieces.
    public static func plan() -> NewJob { NewJob(kind: .plan, priority: JobPriority.plan, maxAttempts: 3) }
}
