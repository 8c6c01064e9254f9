import CFFmpeg

/// An exact fraction for timestamps. Segment boundaries and keyframe times are computed with these so
/// every rung lands on the very same instant, whatever its frame rate.
public struct Rational: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let num: Int64
    public let den: Int64

    public init(_ num: Int64, _ den: Int64 = 1) {
        precondition(den != 0, "zero denominator")
        let sign: Int64 = den < 0 ? -1 : 1
        let g = Rational.gcd(abs(num), abs(den))
        self.num = sign * num / max(g, 1)
        self.den = sign * den / max(g, 1)
    }

    init(_ r: AVRational) { self.init(Int64(r.num), Int64(r.den == 0 ? 1 : r.den)) }

    var av: AVRational { AVRational(num: Int32(clamping: num), den: Int32(clamping: den)) }
    public var seconds: Double { Double(num) / Double(den) }
    public var description: String { den == 1 ? "\(num)" : "\(num)/\(den)" }

    static func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }
    static func lcm(_ a: Int64, _ b: Int64) -> Int64 { a / gcd(a, b) * b }

    public static func + (a: Rational, b: Rational) -> Rational { Rational(a.num * b.den + b.num * a.den, a.den * b.den) }
    public static func - (a: Rational, b: Rational) -> Rational { Rational(a.num * b.den - b.num * a.den, a.den * b.den) }
    public static func * (a: Rational, b: Rational) -> Rational { Rational(a.num * b.num, a.den * b.den) }
    public static func / (a: Rational, b: Rational) -> Rational { Rational(a.num * b.den, a.den * b.num) }
    public static func < (a: Rational, b: Rational) -> Bool { a.num * b.den < b.num * a.den }

    /// Largest integer ≤ self.
    var floor: Int64 { num >= 0 ? num / den : -((-num + den - 1) / den) }
    /// Smallest integer ≥ self.
    var ceil: Int64 { -Rational(-num, den).floor }

    /// This time expressed in ticks of `timescale` per second, rounded to the nearest tick.
    func ticks(_ timescale: Int64) -> Int64 {
        let scaled = Rational(num * timescale, den)
        return (scaled + Rational(1, 2)).floor
    }
}
