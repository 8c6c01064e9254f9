import Foundation
import Testing
@testable import Catalog

/// The downloads job (issue 12) runs after its video is ready: it is queued by the finalize that marks
/// the video ready, comes after every other kind of work, and however it ends the video stays ready.
@Suite("The downloads job of a ready video")
struct DownloadsJobTests {
    /// A video taken to ready by its finalize, which enqueues the downloads job as the worker does.
    private func ready(_ f: CatalogFixture) async throws -> (video: VideoRecord, downloads: JobRecord) {
        let video = try await f.video(jobs: [NewJob(kind: .finalize, priority: 10)])
        let finalize = try #require(try await f.claim(kinds: [.finalize]))
        try await f.catalog.complete(finalize.lease, outcome: JobOutcome(
            enqueue: [NewJob(kind: .downloads, priority: JobPriority.downloads)],
            video: VideoUpdate(state: .ready, publishedSegments: 3, markPlayable: true)))
        let jobs = try await f.catalog.jobs(videoId: video.id, states: nil, limit: 10)
        return (try await f.video(id: video.id), try #require(jobs.first { $0.kind == .downloads }))
    }

    @Test(arguments: Backend.available) func queuedWhenReadyAndLastInLine(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, downloads) = try await ready(f)
        #expect(video.state == .ready && video.progress == 1)
        #expect(downloads.state == .queued && downloads.parentId == nil)
        // Another video's piece of work, even the lowest (a long film's later chunk), goes first.
        _ = try await f.video("film", jobs: [NewJob(kind: .videoChunk, priority: JobPriority.videoChunk(5, videoSeconds: 3 * 3600))])
        #expect(try await f.claim()?.job.kind == .videoChunk)
        let claimed = try #require(try await f.claim())
        #expect(claimed.job.id == downloads.id)
        #expect(try await f.video(id: video.id).progress == 1, "a ready video's progress stays 100 %")
        try await f.catalog.complete(claimed.lease, outcome: JobOutcome())
        #expect(try await f.video(id: video.id).state == .ready)
    }

    @Test(arguments: Backend.available) func itsFailureLeavesTheVideoReady(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, downloads) = try await ready(f)
        let first = try #require(try await f.claim())
        #expect(try await f.catalog.fail(first.lease, error: "disk full", permanent: false) == .queued)
        f.clock.advance(600)
        let second = try #require(try await f.claim())
        #expect(second.job.id == downloads.id)
        #expect(try await f.catalog.fail(second.lease, error: "segment unreadable", permanent: true) == .failed)
        let after = try await f.video(id: video.id)
        #expect(after.state == .ready && after.error == nil && after.progress == 1)
        #expect(after.readyAt == video.readyAt && after.playableAt == video.playableAt)
    }
}
