import CFFmpeg

/// An exact fraction for timestamps. Segment boundaries and keyframe times are computed with these so
/// every rung lands on the very same instant, whatever its frame rate.
public struct Rational: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let num: Int64
    public let den: Int64

    /// A zero denominator saturates (see below) rather than trapping: frame rates and time bases come
    /// from files.
    public init(_ num: Int64, _ den: Int64 = 1) {
        self.init(wide: Int128(num), Int128(den))
    }

    /// Reduces a fraction computed in 128 bits. Timestamps come from files, so any arithmetic on them
    /// may overflow 64 bits: then the value is approximated (both terms shifted right) or, when it is
    /// beyond 64 bits as a whole, saturated to ±Int64.max. Never a trap; limits downstream catch the
    /// absurd values. A zero denominator (division by zero) saturates the same way.
    private init(wide num: Int128, _ den: Int128) {
        guard den != 0 else {
            self.num = num < 0 ? -Int64.max : Int64.max
            self.den = 1
            return
        }
        var n = den < 0 ? -num : num
        var d = den < 0 ? -den : den
        // The common case (every frame's arithmetic) fits 64 bits: reduce there, cheaply.
        if let small = Int64(exactly: n), let smallDen = Int64(exactly: d), small != Int64.min {
            let g = Int64(clamping: Rational.gcd(small.magnitude, smallDen.magnitude))
            self.num = small / max(g, 1)
            self.den = smallDen / max(g, 1)
            return
        }
        let g = Rational.gcd(n.magnitude, d.magnitude)
        if g > 1 { n /= Int128(g); d /= Int128(g) }
        let limit = Int128(Int64.max)
        if n.magnitude / d.magnitude > UInt128(Int64.max) {
            self.num = n < 0 ? -Int64.max : Int64.max
            self.den = 1
            return
        }
        while n > limit || n < -limit || d > limit {
            n >>= 1
            d >>= 1
        }
        self.num = Int64(n)
        self.den = Int64(max(d, 1))
    }

    init(_ r: AVRational) { self.init(Int64(r.num), Int64(r.den == 0 ? 1 : r.den)) }

    var av: AVRational { AVRational(num: Int32(clamping: num), den: Int32(clamping: den)) }
    public var seconds: Double { Double(num) / Double(den) }
    public var description: String { den == 1 ? "\(num)" : "\(num)/\(den)" }

    static func gcd(_ a: Int64, _ b: Int64) -> Int64 { Int64(clamping: gcd(a.magnitude, b.magnitude)) }
    private static func gcd<T: UnsignedInteger>(_ a: T, _ b: T) -> T {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
    /// Least common multiple, saturating at Int64.max.
    static func lcm(_ a: Int64, _ b: Int64) -> Int64 {
        let wide = Int128(a / max(gcd(a, b), 1)) * Int128(b)
        return wide > Int128(Int64.max) ? Int64.max : Int64(wide)
    }

    public static func + (a: Rational, b: Rational) -> Rational {
        Rational(wide: Int128(a.num) * Int128(b.den) + Int128(b.num) * Int128(a.den), Int128(a.den) * Int128(b.den))
    }
    public static func - (a: Rational, b: Rational) -> Rational {
        Rational(wide: Int128(a.num) * Int128(b.den) - Int128(b.num) * Int128(a.den), Int128(a.den) * Int128(b.den))
    }
    public static func * (a: Rational, b: Rational) -> Rational {
        Rational(wide: Int128(a.num) * Int128(b.num), Int128(a.den) * Int128(b.den))
    }
    public static func / (a: Rational, b: Rational) -> Rational {
        Rational(wide: Int128(a.num) * Int128(b.den), Int128(a.den) * Int128(b.num))
    }
    public static func < (a: Rational, b: Rational) -> Bool { Int128(a.num) * Int128(b.den) < Int128(b.num) * Int128(a.den) }

    /// Largest integer ≤ self.
    var floor: Int64 { num >= 0 ? num / den : -Int64((Int128(-num) + Int128(den) - 1) / Int128(den)) }
    /// Smallest integer ≥ self.
    var ceil: Int64 { num >= 0 ? Int64((Int128(num) + Int128(den) - 1) / Int128(den)) : -((-num) / den) }

    /// This time expressed in ticks of `timescale` per second, rounded to the nearest tick.
    func ticks(_ timescale: Int64) -> Int64 {
        let scaled = Rational(wide: Int128(num) * Int128(timescale), Int128(den))
        return (scaled + Rational(1, 2)).floor
    }
}
