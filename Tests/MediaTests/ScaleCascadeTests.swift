import Testing
@testable import Media

/// Each rung is scaled from the smallest picture already made that is clearly larger than it.
@Suite("Rungs are scaled from the next larger rung's picture")
struct ScaleCascadeTests {
    typealias Step = ScaleCascade.Step

    @Test("the default ladder from 1080p: largest first, each from the next rung at least 1.25x larger")
    func defaultLadder() {
        // Profile order, smallest first: 234p 360p 432p 540p 720p 1080p.
        let sizes = [(416, 234), (640, 360), (768, 432), (960, 540), (1280, 720), (1920, 1080)]
        let steps = ScaleCascade.plan(sizes: sizes.map { (width: $0.0, height: $0.1) }, source: (1920, 1080))
        #expect(steps == [
            Step(rung: 5, from: nil),   // 1080p: the decoded picture itself (same size, not smaller)
            Step(rung: 4, from: nil),   // 720p: from the source, as 1080p is no smaller than it
            Step(rung: 3, from: 4),     // 540p from 720p (1.33x)
            Step(rung: 2, from: 3),     // 432p from 540p (exactly 1.25x)
            Step(rung: 1, from: 3),     // 360p: 432p is only 1.2x larger, so from 540p
            Step(rung: 0, from: 1),     // 234p from 360p (1.54x)
        ])
    }

    @Test("the small ladder from 720p")
    func smallLadder() {
        let steps = ScaleCascade.plan(sizes: [(width: 416, height: 234), (width: 640, height: 360), (width: 960, height: 540)],
                                      source: (1280, 720))
        #expect(steps == [Step(rung: 2, from: nil), Step(rung: 1, from: 2), Step(rung: 0, from: 1)])
    }

    @Test("a rung enlarged beyond a small source is never scaled from; rungs of the same size come out in profile order")
    func neverFromAnEnlargedPicture() {
        let steps = ScaleCascade.plan(sizes: [(width: 640, height: 360), (width: 640, height: 360), (width: 1280, height: 720)],
                                      source: (854, 480))
        #expect(steps == [Step(rung: 2, from: nil), Step(rung: 0, from: nil), Step(rung: 1, from: nil)])
    }

    @Test("a portrait ladder cascades on both sides")
    func portrait() {
        let steps = ScaleCascade.plan(sizes: [(width: 234, height: 416), (width: 540, height: 960)], source: (720, 1280))
        #expect(steps == [Step(rung: 1, from: nil), Step(rung: 0, from: 1)])
    }
}
