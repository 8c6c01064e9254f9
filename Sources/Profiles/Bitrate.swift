import Foundation

/// Bitrates as operators write them: `145k`, `6M`, `1.5M`, `6000000` (bits per second).
public enum Bitrate {
    /// Parses a bitrate; `k`/`K` = 1000, `m`/`M` = 1 000 000 (nobody means millibits).
    /// Returns nil for text that is not a bitrate or not a whole number of bits.
    /// Negative values parse, so validation can say "must be positive" rather than "malformed".
    public static func parse(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var multiplier = 1.0
        switch digits.last {
        case "k", "K": multiplier = 1_000
        case "m", "M": multiplier = 1_000_000
        default: break
        }
        if multiplier != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty,
              digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-" || $0 == "+") }),
              let number = Double(digits), number.isFinite
        else { return nil }
        let bits = number * multiplier
        guard abs(bits) < 1e15, bits == bits.rounded() else { return nil }
        return Int(bits)
    }

    /// Short form for messages: 6000000 → "6M", 145000 → "145k", 1500 → "1500".
    public static func format(_ bitsPerSecond: Int) -> String {
        if bitsPerSecond != 0, bitsPerSecond % 1_000_000 == 0 { return "\(bitsPerSecond / 1_000_000)M" }
        if bitsPerSecond != 0, bitsPerSecond % 1_000 == 0 { return "\(bitsPerSecond / 1_000)k" }
        return "\(bitsPerSecond)"
    }
}
