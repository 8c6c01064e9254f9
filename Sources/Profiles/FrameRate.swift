/// A frame rate as an exact fraction, so 59.94 stays 60000/1001 and halving it gives 30000/1001.
public struct FrameRate: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var num: Int
    public var den: Int

    /// Reduces the fraction by its gcd and keeps the sign on `num`.
    /// A zero denominator means "unknown" and is stored as 0/1.
    public init(num: Int, den: Int) {
        guard den != 0 else {
            self.num = 0
            self.den = 1
            return
        }
        let sign = den < 0 ? -1 : 1
        let divisor = Swift.max(FrameRate.gcd(num, den), 1)
        self.num = sign * num / divisor
        self.den = sign * den / divisor
    }

    /// Frames per second as a Double (0 for an unknown rate).
    public var value: Double {
        den == 0 ? 0 : Double(num) / Double(den)
    }

    /// True for a usable rate (positive numerator and denominator).
    public var isValid: Bool { num > 0 && den > 0 }

    /// "30000/1001", "25/1": the form FFmpeg's rate parser and `AVRational` both take.
    public var description: String { "\(num)/\(den)" }

    /// The rate divided by a whole number: 60000/1001 ÷ 2 = 30000/1001.
    public func divided(by n: Int) -> FrameRate {
        precondition(n > 0, "frame rate divisor must be positive")
        return FrameRate(num: num, den: den * n)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a.magnitude, b.magnitude)
        while y != 0 { (x, y) = (y, x % y) }
        return Int(x)
    }
}
