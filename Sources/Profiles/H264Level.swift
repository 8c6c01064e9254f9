import Foundation

/// H.264 levels (ITU-T H.264 Table A-1): the limits a decoder promises to handle.
/// A stream flagged with a level it exceeds may be refused by hardware decoders, so profiles
/// are checked against these limits and the planner raises a level a particular source needs.
public struct H264Level: Sendable, Equatable {
    /// Canonical name: "3.1", "4.0", "1b".
    public var name: String
    /// Max macroblocks per second.
    public var maxMacroblocksPerSecond: Int
    /// Max frame size in macroblocks.
    public var maxFrameMacroblocks: Int
    /// Max video bitrate for Baseline/Main in kbit/s (High allows 1.25×).
    public var maxBitrateKbps: Int

    public static let all: [H264Level] = [
        .init(name: "1.0", maxMacroblocksPerSecond: 1_485, maxFrameMacroblocks: 99, maxBitrateKbps: 64),
        .init(name: "1b", maxMacroblocksPerSecond: 1_485, maxFrameMacroblocks: 99, maxBitrateKbps: 128),
        .init(name: "1.1", maxMacroblocksPerSecond: 3_000, maxFrameMacroblocks: 396, maxBitrateKbps: 192),
        .init(name: "1.2", maxMacroblocksPerSecond: 6_000, maxFrameMacroblocks: 396, maxBitrateKbps: 384),
        .init(name: "1.3", maxMacroblocksPerSecond: 11_880, maxFrameMacroblocks: 396, maxBitrateKbps: 768),
        .init(name: "2.0", maxMacroblocksPerSecond: 11_880, maxFrameMacroblocks: 396, maxBitrateKbps: 2_000),
        .init(name: "2.1", maxMacroblocksPerSecond: 19_800, maxFrameMacroblocks: 792, maxBitrateKbps: 4_000),
        .init(name: "2.2", maxMacroblocksPerSecond: 20_250, maxFrameMacroblocks: 1_620, maxBitrateKbps: 4_000),
        .init(name: "3.0", maxMacroblocksPerSecond: 40_500, maxFrameMacroblocks: 1_620, maxBitrateKbps: 10_000),
        .init(name: "3.1", maxMacroblocksPerSecond: 108_000, maxFrameMacroblocks: 3_600, maxBitrateKbps: 14_000),
        .init(name: "3.2", maxMacroblocksPerSecond: 216_000, maxFrameMacroblocks: 5_120, maxBitrateKbps: 20_000),
        .init(name: "4.0", maxMacroblocksPerSecond: 245_760, maxFrameMacroblocks: 8_192, maxBitrateKbps: 20_000),
        .init(name: "4.1", maxMacroblocksPerSecond: 245_760, maxFrameMacroblocks: 8_192, maxBitrateKbps: 50_000),
        .init(name: "4.2", maxMacroblocksPerSecond: 522_240, maxFrameMacroblocks: 8_704, maxBitrateKbps: 50_000),
        .init(name: "5.0", maxMacroblocksPerSecond: 589_824, maxFrameMacroblocks: 22_080, maxBitrateKbps: 135_000),
        .init(name: "5.1", maxMacroblocksPerSecond: 983_040, maxFrameMacroblocks: 36_864, maxBitrateKbps: 240_000),
        .init(name: "5.2", maxMacroblocksPerSecond: 2_073_600, maxFrameMacroblocks: 36_864, maxBitrateKbps: 240_000),
        .init(name: "6.0", maxMacroblocksPerSecond: 4_177_920, maxFrameMacroblocks: 139_264, maxBitrateKbps: 240_000),
        .init(name: "6.1", maxMacroblocksPerSecond: 8_355_840, maxFrameMacroblocks: 139_264, maxBitrateKbps: 480_000),
        .init(name: "6.2", maxMacroblocksPerSecond: 16_711_680, maxFrameMacroblocks: 139_264, maxBitrateKbps: 800_000),
    ]

    /// Looks a level up by name: "3.1", "3", "3.0", "31" (x264 style) and "1b" all work.
    public static func named(_ text: String) -> H264Level? {
        guard let canonical = canonicalName(text) else { return nil }
        return all.first { $0.name == canonical }
    }

    /// Canonical spelling of a level ("4" → "4.0", "31" → "3.1"), or nil if it is not a level.
    public static func canonicalName(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "1b" || trimmed == "1.0b" { return "1b" }
        var candidate = trimmed
        if let whole = Int(trimmed) {
            candidate = whole >= 10 ? "\(whole / 10).\(whole % 10)" : "\(whole).0"
        }
        return all.contains { $0.name == candidate } ? candidate : nil
    }

    /// Peak bitrate this level allows for a codec profile, bits per second.
    public func maxBitrate(codecProfile: String) -> Int {
        maxBitrateKbps * (codecProfile == "high" ? 1_250 : 1_000)
    }

    /// Whether a picture of `width`x`height` at `frameRate` fps with `peakBitrate` stays within this level.
    public func allows(width: Int, height: Int, frameRate: Double, peakBitrate: Int, codecProfile: String) -> Bool {
        let widthMBs = (width + 15) / 16
        let heightMBs = (height + 15) / 16
        let frameMBs = widthMBs * heightMBs
        // Neither side may exceed sqrt(8 × MaxFS) macroblocks (A.3.1).
        guard frameMBs <= maxFrameMacroblocks,
              widthMBs * widthMBs <= 8 * maxFrameMacroblocks,
              heightMBs * heightMBs <= 8 * maxFrameMacroblocks
        else { return false }
        // A tiny tolerance so a 59.94 or 60 fps cap compares as intended.
        guard Double(frameMBs) * frameRate <= Double(maxMacroblocksPerSecond) * (1 + 1e-9) else { return false }
        return peakBitrate <= maxBitrate(codecProfile: codecProfile)
    }

    /// The lowest level that allows the stream, or nil if even 6.2 does not.
    public static func minimum(width: Int, height: Int, frameRate: Double, peakBitrate: Int, codecProfile: String) -> H264Level? {
        all.first { $0.allows(width: width, height: height, frameRate: frameRate, peakBitrate: peakBitrate, codecProfile: codecProfile) }
    }

    /// Position in `all`, for comparing levels.
    var rank: Int { H264Level.all.firstIndex(of: self) ?? 0 }
}
