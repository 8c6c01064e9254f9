import Foundation
import Testing
@testable import Catalog

@Suite("Job priority")
struct JobPriorityTests {
    static let clip = 2 * 60.0
    static let film = 3 * 3600.0

    /// A video's jobs as planning makes them, named for the test.
    static func planned(_ name: String, seconds: Double) -> [NewJob] {
        [NewJob(kind: .videoChunk, priority: JobPriority.videoChunk(0, videoSeconds: seconds), payload: #"{"n":"\#(name) chunk 0"}"#),
         NewJob(kind: .videoChunk, priority: JobPriority.videoChunk(1, videoSeconds: seconds), payload: #"{"n":"\#(name) chunk 1"}"#),
         NewJob(kind: .audio, priority: JobPriority.audio(videoSeconds: seconds), payload: #"{"n":"\#(name) audio"}"#),
         NewJob(kind: .finalize, priority: JobPriority.finalize(videoSeconds: seconds), payload: #"{"n":"\#(name) finalize"}"#)]
    }

    @Test func planFirstThenShortVideosThenEachVideosPlayablePiecesFirst() {
        let (clip, film) = (Self.clip, Self.film)
        let order = [
            JobPriority.plan,
            JobPriority.finalize(videoSeconds: clip),
            JobPriority.videoChunk(0, videoSeconds: clip),
            JobPriority.videoChunk(1, videoSeconds: clip),
            JobPriority.finalize(videoSeconds: film),
            JobPriority.videoChunk(0, videoSeconds: film),
            JobPriority.videoChunk(1, videoSeconds: film),
        ]
        #expect(order == order.sorted(by: >) && Set(order).count == order.count, "\(order)")
        // The first chunk and the audio together make a video playable: neither waits for the other.
        #expect(JobPriority.audio(videoSeconds: clip) == JobPriority.videoChunk(0, videoSeconds: clip))
        #expect(JobPriority.audio(videoSeconds: film) == JobPriority.videoChunk(0, videoSeconds: film))
        // Even a video of no length does not overtake planning; a very long one never goes below 0.
        #expect(JobPriority.finalize(videoSeconds: 0) < JobPriority.plan)
        #expect(JobPriority.videoChunk(1, videoSeconds: 100 * 3600) == 0)
        #expect(JobPriority.videoChunk(1, videoSeconds: 60) > JobPriority.videoChunk(1, videoSeconds: 600))
    }

    @Test func newVideosStartWithAPlanJobAtPlanPriority() {
        let plan = NewJob.plan()
        #expect(plan.kind == .plan && plan.priority == JobPriority.plan && plan.maxAttempts == 3)
    }

    /// What a worker claims, in order, when a film was planned before a clip and another video still waits
    /// to be planned: the policy's order, whatever the backend.
    @Test(arguments: Backend.available) func theCatalogClaimsInThePolicysOrder(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video("film", jobs: Self.planned("film", seconds: Self.film))
        f.clock.advance(1)
        _ = try await f.video("clip", jobs: Self.planned("clip", seconds: Self.clip))
        f.clock.advance(1)
        var plan = NewJob.plan()
        plan.payload = #"{"n":"new plan"}"#
        _ = try await f.video("new", jobs: [plan])
        f.clock.advance(1)
        var order: [String] = []
        while let claimed = try await f.claim() {
            order.append(try JSONDecoder().decode([String: String].self, from: Data(claimed.job.payload.utf8))["n"] ?? "?")
        }
        #expect(order == ["new plan", "clip finalize", "clip chunk 0", "clip audio", "clip chunk 1",
                          "film finalize", "film chunk 0", "film audio", "film chunk 1"])
    }
}
