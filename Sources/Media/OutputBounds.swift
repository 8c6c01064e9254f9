/// How much output one file may produce, whatever its timestamps say. Checked as pictures and audio
/// arrive: one packet stamped hours later would otherwise be reached by copying frames (or silence)
/// for all that time.
struct OutputBounds {
    /// No picture or audio may start later than this (output seconds).
    let latest: Rational
    /// The container's stated duration, when it states one.
    let stated: Rational?
    let maxPixels: Int

    init(limits: MediaLimits, statedDuration: Double?, fileSize: Int64) {
        latest = Self.rational(limits.latestOutputTime(statedDuration: statedDuration, fileSize: fileSize))
        stated = statedDuration.flatMap { $0.isFinite && $0 > 0 ? Self.rational($0) : nil }
        maxPixels = limits.maxPixels
    }

    func check(start: Rational, path: String, what: String) throws(MediaError) {
        guard start > latest else { return }
        throw .exceedsLimit(path: path, detail: "\(what) is stamped at \(MediaLimits.hours(start.seconds)), past the \(MediaLimits.hours(latest.seconds)) that its stated duration and size allow")
    }

    /// Where the last picture stops being shown: a little past the stated duration at most (a length
    /// field can claim years), and never before its own first frame.
    func lastPictureEnd(start: Rational, period: Rational) -> Rational {
        guard let stated else { return latest }
        let slack = max(Rational(1), stated * Rational(1, 20))
        return max(stated + slack, start + period)
    }

    private static func rational(_ seconds: Double) -> Rational {
        Rational(Int64(min(max(seconds, 0), 1e12) * 1000), 1000)
    }
}
