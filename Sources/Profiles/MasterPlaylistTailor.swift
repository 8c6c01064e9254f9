import Foundation

/// Trims and reorders an HLS master playlist for a `DeviceDecision`.
///
/// Variants (`#EXT-X-STREAM-INF` + its URI line) above the caps are dropped; the chosen start
/// variant comes first (players begin with the first one listed), the rest follow by ascending
/// BANDWIDTH. `#EXT-X-I-FRAME-STREAM-INF` lines taller than the tallest kept variant are dropped.
/// All other lines (header, `#EXT-X-MEDIA`, session data…) stay where they were.
public enum MasterPlaylistTailor {
    public static func tailor(_ master: String, for decision: DeviceDecision) -> String {
        if decision.leavesMasterUntouched { return master }
        let playlist = ParsedMaster(master)
        let video = playlist.variants.filter { $0.height != nil }
        // Audio-only masters (and text that is not a master at all) have nothing to tailor.
        guard !video.isEmpty else { return master }

        let kept = order(select(playlist.variants, decision), start: decision.start)
        let tallest = kept.compactMap(\.height).max() ?? 0

        var output: [String] = []
        var variantsWritten = false
        for item in playlist.items {
            switch item {
            case .line(let line):
                output.append(line)
            case .variant:
                // Every variant goes where the first one was, in the new order.
                if !variantsWritten {
                    output += kept.flatMap(\.lines)
                    variantsWritten = true
                }
            case .iFrame(let line, let height):
                if height.map({ $0 <= tallest }) ?? true { output.append(line) }
            }
        }
        while output.last?.isEmpty == true { output.removeLast() }
        return output.joined(separator: "\n") + "\n"
    }

    /// The variants within the caps; never none: when the caps remove every picture, the lowest stays.
    static func select(_ variants: [Variant], _ decision: DeviceDecision) -> [Variant] {
        var kept = variants.filter { variant in
            if let cap = decision.maxHeight, let height = variant.height, height > cap { return false }
            if let cap = decision.maxBandwidth, let bandwidth = variant.bandwidth, bandwidth > cap { return false }
            return true
        }
        if !kept.contains(where: { $0.height != nil }), let lowest = lowestVideo(variants) {
            kept.append(lowest)
            kept.sort { $0.position < $1.position }
        }
        return kept
    }

    static func order(_ variants: [Variant], start: StartVariant) -> [Variant] {
        let first: Variant?
        switch start {
        case .asWritten:
            return variants
        case .lowest:
            first = lowestVideo(variants)
        case .closest(let target):
            let fitting = variants.filter { ($0.height ?? .max) <= target }
            let tallest = fitting.compactMap(\.height).max()
            first = tallest.flatMap { height in lowestBandwidth(fitting.filter { $0.height == height }) }
                ?? lowestVideo(variants)
        }
        let rest = variants.filter { $0.position != first?.position }.sorted {
            ($0.bandwidth ?? 0, $0.position) < ($1.bandwidth ?? 0, $1.position)
        }
        return (first.map { [$0] } ?? []) + rest
    }

    /// The shortest picture variant (the cheapest of equals).
    private static func lowestVideo(_ variants: [Variant]) -> Variant? {
        let video = variants.filter { $0.height != nil }
        guard let height = video.compactMap(\.height).min() else { return nil }
        return lowestBandwidth(video.filter { $0.height == height })
    }

    private static func lowestBandwidth(_ variants: [Variant]) -> Variant? {
        variants.min { ($0.bandwidth ?? 0, $0.position) < ($1.bandwidth ?? 0, $1.position) }
    }
}

extension MasterPlaylistTailor {
    /// One `#EXT-X-STREAM-INF` tag with the lines up to and including its URI.
    struct Variant {
        /// Index among the master's variants, for stable ordering.
        var position: Int
        var lines: [String]
        var bandwidth: Int?
        /// Short side of RESOLUTION; nil for audio-only variants.
        var height: Int?
    }

    enum Item {
        case line(String)
        case variant
        case iFrame(String, height: Int?)
    }

    /// The master as a list of items, variants kept whole.
    struct ParsedMaster {
        var items: [Item] = []
        var variants: [Variant] = []

        init(_ text: String) {
            // "\r\n" is a single Character in Swift, so it is a separator of its own.
            let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(String.init)
            var index = 0
            while index < lines.count {
                let line = lines[index]
                index += 1
                if line.hasPrefix("#EXT-X-STREAM-INF:") {
                    var block = [line]
                    // The URI is the next line that is neither empty nor a tag or comment.
                    while index < lines.count {
                        let next = lines[index]
                        index += 1
                        block.append(next)
                        if !next.isEmpty && !next.hasPrefix("#") { break }
                    }
                    let attributes = HLSAttributeList(tagLine: line)
                    variants.append(Variant(
                        position: variants.count, lines: block,
                        bandwidth: attributes.bandwidth, height: attributes.shortSide))
                    items.append(.variant)
                } else if line.hasPrefix("#EXT-X-I-FRAME-STREAM-INF:") {
                    items.append(.iFrame(line, height: HLSAttributeList(tagLine: line).shortSide))
                } else {
                    items.append(.line(line))
                }
            }
        }
    }
}
