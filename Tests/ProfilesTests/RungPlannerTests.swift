import Testing
@testable import Profiles

/// One source and the ladder the default profile should give it.
struct LadderCase: Sendable, CustomTestStringConvertible {
    var width: Int
    var height: Int
    var rate: FrameRate
    /// "name WxH num/den" per rung, ascending.
    var expected: [String]

    var testDescription: String { "\(width)x\(height)@\(rate)" }
}

@Suite("Rung planning")
struct RungPlannerTests {
    static let fps30 = FrameRate(num: 30, den: 1)
    static let fps60 = FrameRate(num: 60, den: 1)

    static let ladderCases: [LadderCase] = [
        LadderCase(width: 1920, height: 1080, rate: fps30, expected: [
            "234p 416x234 30/1", "360p 640x360 30/1", "432p 768x432 30/1",
            "540p 960x540 30/1", "720p 1280x720 30/1", "1080p 1920x1080 30/1",
        ]),
        // ≤1100k rungs are capped at 30 fps, the others keep 60.
        LadderCase(width: 1280, height: 720, rate: fps60, expected: [
            "234p 416x234 30/1", "360p 640x360 30/1", "432p 768x432 30/1",
            "540p 960x540 60/1", "720p 1280x720 60/1",
        ]),
        // Portrait stays portrait; the rung height is the short side.
        LadderCase(width: 1080, height: 1920, rate: fps30, expected: [
            "234p 234x416 30/1", "360p 360x640 30/1", "432p 432x768 30/1",
            "540p 540x960 30/1", "720p 720x1280 30/1", "1080p 1080x1920 30/1",
        ]),
        // 4:3 keeps 4:3; nothing above the 480-line source.
        LadderCase(width: 640, height: 480, rate: fps30, expected: [
            "234p 312x234 30/1", "360p 480x360 30/1", "432p 576x432 30/1",
        ]),
        // Smaller than every rung, odd sizes: one rung, each side rounded down to even.
        LadderCase(width: 333, height: 187, rate: fps30, expected: ["186p 332x186 30/1"]),
        LadderCase(width: 160, height: 90, rate: fps30, expected: ["90p 160x90 30/1"]),
        // Exactly the smallest rung's height.
        LadderCase(width: 416, height: 234, rate: fps30, expected: ["234p 416x234 30/1"]),
        // 59.94 → 29.97 under the 30 cap, unchanged under the 60 cap.
        LadderCase(width: 960, height: 540, rate: FrameRate(num: 60000, den: 1001), expected: [
            "234p 416x234 30000/1001", "360p 640x360 30000/1001", "432p 768x432 30000/1001",
            "540p 960x540 60000/1001",
        ]),
        // 50 → 25 under the 30 cap, unchanged under the 60 cap.
        LadderCase(width: 960, height: 540, rate: FrameRate(num: 50, den: 1), expected: [
            "234p 416x234 25/1", "360p 640x360 25/1", "432p 768x432 25/1", "540p 960x540 50/1",
        ]),
        // Unknown rate counts as 30/1.
        LadderCase(width: 640, height: 360, rate: FrameRate(num: 0, den: 0), expected: [
            "234p 416x234 30/1", "360p 640x360 30/1",
        ]),
        // Square source: both sides equal the rung height.
        LadderCase(width: 500, height: 500, rate: fps30, expected: [
            "234p 234x234 30/1", "360p 360x360 30/1", "432p 432x432 30/1",
        ]),
    ]

    @Test(arguments: ladderCases)
    func defaultLadder(_ testCase: LadderCase) throws {
        let profile = try loadShipped("default")
        let source = SourceGeometry(displayWidth: testCase.width, displayHeight: testCase.height, frameRate: testCase.rate)
        let plan = RungPlanner.plan(profile: profile, source: source)
        #expect(plan.map { "\($0.name) \($0.width)x\($0.height) \($0.frameRate)" } == testCase.expected)
    }

    @Test(arguments: [
        (1920, 1080), (1080, 1920), (640, 480), (333, 187), (160, 90), (2, 2), (1, 1), (3840, 1608), (720, 576),
    ])
    func sizesAreEvenAndNeverExceedTheSource(width: Int, height: Int) throws {
        let profile = try loadShipped("default")
        let plan = RungPlanner.plan(
            profile: profile, source: SourceGeometry(displayWidth: width, displayHeight: height, frameRate: Self.fps30)
        )
        #expect(!plan.isEmpty)
        for rung in plan {
            #expect(rung.width % 2 == 0 && rung.height % 2 == 0, "\(rung.name) \(rung.width)x\(rung.height)")
            #expect(rung.width >= 2 && rung.height >= 2)
            #expect(rung.width <= max(width, 2) && rung.height <= max(height, 2), "\(rung.name) upscaled")
            #expect((rung.height > rung.width) == (height > width), "orientation of \(rung.name)")
        }
        #expect(plan.map(\.height) == plan.map(\.height).sorted())
    }

    @Test func smallSourceUsesTheSmallestRungsSettings() throws {
        let profile = try loadShipped("default")
        let plan = RungPlanner.plan(
            profile: profile, source: SourceGeometry(displayWidth: 160, displayHeight: 90, frameRate: Self.fps60)
        )
        let smallest = profile.rungs[0]
        #expect(plan.count == 1)
        #expect(plan.first?.videoBitrate == smallest.videoBitrate)
        #expect(plan.first?.peakBitrate == smallest.peakBitrate)
        #expect(plan.first?.codecProfile == smallest.codecProfile)
        #expect(plan.first?.level == smallest.level)
        #expect(plan.first?.frameRate == FrameRate(num: 30, den: 1))
    }

    @Test func planCarriesTheRungSettings() throws {
        let profile = try loadShipped("default")
        let plan = RungPlanner.plan(
            profile: profile, source: SourceGeometry(displayWidth: 1920, displayHeight: 1080, frameRate: Self.fps60)
        )
        let top = try #require(plan.last)
        #expect(top.videoBitrate == 6_000_000)
        #expect(top.peakBitrate == 7_800_000)
        #expect(top.codecProfile == "high")
        #expect(top.level == "4.2")
        #expect(top.frameRate == Self.fps60)
    }

    @Test func levelIsRaisedWhenASourceShapeNeedsIt() throws {
        // 2.39:1 at 1080 lines is 2582x1080: too many macroblocks for level 4.2.
        let profile = try loadShipped("default")
        let plan = RungPlanner.plan(
            profile: profile, source: SourceGeometry(displayWidth: 3840, displayHeight: 1606, frameRate: Self.fps30)
        )
        let top = try #require(plan.last)
        #expect(top.width == 2582 && top.height == 1080)
        #expect(top.level == "5.0")
        #expect(plan.first?.level == "3.0")
    }

    @Test func sourceWithoutSizeGetsTheSmallestRung() throws {
        let profile = try loadShipped("default")
        let plan = RungPlanner.plan(
            profile: profile, source: SourceGeometry(displayWidth: 0, displayHeight: 0, frameRate: Self.fps30)
        )
        #expect(plan.map { "\($0.name) \($0.width)x\($0.height)" } == ["234p 416x234"])
    }

    @Test(arguments: [
        // (source num, den, cap, expected num, den)
        (60, 1, 30.0, 30, 1),
        (50, 1, 30.0, 25, 1),
        (60000, 1001, 30.0, 30000, 1001),
        (120, 1, 30.0, 30, 1),
        (100, 1, 30.0, 25, 1),
        (24000, 1001, 30.0, 24000, 1001),
        (30, 1, 30.0, 30, 1),
        (30000, 1001, 60.0, 30000, 1001),
        (240, 1, 60.0, 60, 1),
        (25, 1, 24.0, 25, 2),
        (0, 1, 60.0, 30, 1),
    ])
    func frameRateUnderACap(num: Int, den: Int, cap: Double, expectedNum: Int, expectedDen: Int) {
        let rate = RungPlanner.outputFrameRate(source: FrameRate(num: num, den: den), cap: cap)
        #expect(rate == FrameRate(num: expectedNum, den: expectedDen))
    }
}
