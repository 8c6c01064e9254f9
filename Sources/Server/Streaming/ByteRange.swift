/// A single `Range: bytes=…` request (RFC 9110 §14). Several ranges are answered with the whole file,
/// which the RFC allows and players never need.
enum ByteRangeRequest: Equatable {
    case none
    case satisfiable(ClosedRange<Int>)
    case unsatisfiable

    static func parse(_ header: String?, size: Int) -> ByteRangeRequest {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header.lowercased().hasPrefix("bytes=") else { return .none }
        let spec = header.dropFirst(6)
        guard !spec.contains(",") else { return .none }
        let ends = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard ends.count == 2 else { return .none }
        let first = ends[0].trimmingCharacters(in: .whitespaces), last = ends[1].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let suffix = Int(last), suffix >= 0 else { return .none }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .satisfiable(max(0, size - suffix)...(size - 1))
        }
        guard let start = Int(first), start >= 0 else { return .none }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .satisfiable(start...(size - 1)) }
        guard let end = Int(last), end >= start else { return .none }
        return .satisfiable(start...min(end, size - 1))
    }
}

import Foundation
