/// What the planner needs to know about a source picture.
public struct SourceGeometry: Sendable, Equatable {
    /// Width as displayed: after rotation and sample aspect ratio.
    public var displayWidth: Int
    public var displayHeight: Int
    /// Nominal source rate (for VFR: the average). 0/1 when unknown.
    public var frameRate: FrameRate

    public init(displayWidth: Int, displayHeight: Int, frameRate: FrameRate) {
        self.displayWidth = displayWidth
        self.displayHeight = displayHeight
        self.frameRate = frameRate
    }
}

/// A rung as it will be encoded for one particular source.
public struct PlannedRung: Sendable, Equatable {
    public var name: String
    /// Output picture size, even numbers; a portrait source gives portrait rungs.
    public var width: Int
    public var height: Int
    public var videoBitrate: Int
    public var peakBitrate: Int
    public var codecProfile: String
    /// The profile's level, raised when this picture size/rate needs more (never lowered).
    public var level: String
    /// Output frame rate.
    public var frameRate: FrameRate

    public init(
        name: String, width: Int, height: Int, videoBitrate: Int, peakBitrate: Int,
        codecProfile: String, level: String, frameRate: FrameRate
    ) {
        self.name = name
        self.width = width
        self.height = height
        self.videoBitrate = videoBitrate
        self.peakBitrate = peakBitrate
        self.codecProfile = codecProfile
        self.level = level
        self.frameRate = frameRate
    }
}

/// Chooses the rungs of a profile that fit a source.
///
/// - Never upscales: a rung is used only if its height ≤ the source's short side.
/// - Keeps the display aspect ratio: the rung height is the short side, the long side is
///   `short × aspect` rounded to the nearest even number (never past the source's long side).
/// - A source smaller than the smallest rung gets one rung at its own size (each side rounded
///   down to even, so it never exceeds the source) with the smallest rung's settings, named "<short>p".
/// - A source with no usable size gets the smallest rung at 16:9.
/// - Frame rate: kept when ≤ the rung's cap, else divided by the smallest whole number that
///   brings it under the cap (60 → 30, 50 → 25, 60000/1001 → 30000/1001). Unknown rate → 30/1.
public enum RungPlanner {
    public static func plan(profile: Profile, source: SourceGeometry) -> [PlannedRung] {
        let specs = profile.rungs.sorted { $0.height < $1.height }
        guard let smallest = specs.first else { return [] }
        let sourceRate = source.frameRate.isValid ? source.frameRate : ProfileDefaults.unknownSourceFrameRate

        guard source.displayWidth > 0, source.displayHeight > 0 else {
            let width = evenRounded(Double(smallest.height) * 16 / 9)
            return [planned(smallest, name: smallest.name, width: width, height: smallest.height, sourceRate: sourceRate)]
        }

        let portrait = source.displayHeight > source.displayWidth
        let short = min(source.displayWidth, source.displayHeight)
        let long = max(source.displayWidth, source.displayHeight)
        let aspect = Double(long) / Double(short)

        let fitting = specs.filter { $0.height <= short }
        guard !fitting.isEmpty else {
            // Smaller than every rung: encode it at its own size rather than upscale.
            let outShort = evenFloor(short)
            let outLong = evenFloor(long)
            let (width, height) = portrait ? (outShort, outLong) : (outLong, outShort)
            return [planned(smallest, name: "\(outShort)p", width: width, height: height, sourceRate: sourceRate)]
        }
        return fitting.map { spec in
            let outShort = max(evenFloor(spec.height), 2)
            let outLong = max(min(evenRounded(Double(outShort) * aspect), evenFloor(long)), outShort)
            let (width, height) = portrait ? (outShort, outLong) : (outLong, outShort)
            return planned(spec, name: spec.name, width: width, height: height, sourceRate: sourceRate)
        }
    }

    /// The output rate for a source rate under a cap: the source rate divided by the smallest
    /// whole number that brings it to the cap or below. Rates within 0.01 fps of the cap count as under it.
    public static func outputFrameRate(source: FrameRate, cap: Double) -> FrameRate {
        let rate = source.isValid ? source : ProfileDefaults.unknownSourceFrameRate
        guard cap > 0, rate.value > cap + 0.01 else { return rate }
        var divisor = max(Int((rate.value / cap).rounded(.down)), 1)
        while rate.value / Double(divisor) > cap + 0.01 { divisor += 1 }
        return rate.divided(by: divisor)
    }

    private static func planned(_ spec: RungSpec, name: String, width: Int, height: Int, sourceRate: FrameRate) -> PlannedRung {
        let rate = outputFrameRate(source: sourceRate, cap: spec.maxFrameRate)
        return PlannedRung(
            name: name, width: width, height: height,
            videoBitrate: spec.videoBitrate, peakBitrate: spec.peakBitrate,
            codecProfile: spec.codecProfile,
            level: level(for: spec, width: width, height: height, frameRate: rate.value),
            frameRate: rate
        )
    }

    /// The profile's level, or the lowest level this exact output needs if that is higher.
    private static func level(for spec: RungSpec, width: Int, height: Int, frameRate: Double) -> String {
        guard let declared = H264Level.named(spec.level) else { return spec.level }
        guard let needed = H264Level.minimum(
            width: width, height: height, frameRate: frameRate,
            peakBitrate: spec.peakBitrate, codecProfile: spec.codecProfile
        ) else { return H264Level.all.last?.name ?? declared.name }
        return needed.rank > declared.rank ? needed.name : declared.name
    }

    /// Nearest even number, at least 2 (ties round up: 333 → 334).
    static func evenRounded(_ value: Double) -> Int {
        max(Int((value / 2).rounded()) * 2, 2)
    }

    /// Largest even number ≤ value, at least 2.
    static func evenFloor(_ value: Int) -> Int {
        max(value - value % 2, 2)
    }
}
