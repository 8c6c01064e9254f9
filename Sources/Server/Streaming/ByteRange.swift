/// A `Range: bytes=…` request (RFC 9110 §14), answered the way nginx answers it:
///
/// - a last position past the end is clamped to the end, however many digits it has (`bytes=0-99999999999999999999`
///   is the whole file as a 206); so is a suffix longer than the file;
/// - a first position past the end (or too large for any file) makes that range unsatisfiable; when no range
///   is satisfiable the answer is 416;
/// - several satisfiable ranges are a multipart/byteranges 206, unless there are more than `maximumRanges`
///   of them or together they ask for more bytes than the file has (overlaps that multiply the response):
///   then the whole file, 200, as nginx does;
/// - anything that does not parse is ignored (the whole file), as the RFC allows.
enum ByteRangeRequest: Equatable {
    case none
    case satisfiable(ClosedRange<Int>)
    case several([ClosedRange<Int>])
    case unsatisfiable

    static let maximumRanges = 16

    static func parse(_ header: String?, size: Int) -> ByteRangeRequest {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header.lowercased().hasPrefix("bytes=") else { return .none }
        var ranges: [ClosedRange<Int>] = []
        var any = false
        for element in header.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false) {
            let spec = element.trimmingCharacters(in: .whitespaces)
            if spec.isEmpty { continue }  // empty list elements are allowed
            let ends = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard ends.count == 2 else { return .none }
            let first = ends[0].trimmingCharacters(in: .whitespaces), last = ends[1].trimmingCharacters(in: .whitespaces)
            any = true
            if first.isEmpty {
                // Suffix: the last N bytes; more than the file is the whole file.
                guard let suffix = number(last) else { return .none }
                if suffix > 0 && size > 0 { ranges.append(max(0, size - suffix)...(size - 1)) }
                continue
            }
            guard let start = number(first) else { return .none }
            if last.isEmpty {
                if start < size { ranges.append(start...(size - 1)) }
                continue
            }
            guard let end = number(last), end >= start else { return .none }
            if start < size { ranges.append(start...min(end, size - 1)) }
        }
        guard any else { return .none }
        guard !ranges.isEmpty else { return .unsatisfiable }
        if ranges.count == 1 { return .satisfiable(ranges[0]) }
        guard ranges.count <= maximumRanges, ranges.reduce(0, { $0 + $1.count }) <= size else { return .none }
        return .several(ranges)
    }

    /// Decimal digits only; a number too large for an `Int` saturates (it is past the end of any file).
    private static func number(_ text: String) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = overflow1 || overflow2 ? Int.max : sum
        }
        return value
    }
}
