/// Who may put Reel's pages in a frame. The embeddable player (`/embed/{id}`) takes the operator's list of
/// CSP `frame-ancestors` sources; every other page (upload, library, watch: some of them hold an API key)
/// may be framed by Reel's own origin only, so no other site can overlay them (clickjacking).
public enum EmbedPolicy {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    static let otherPages = "frame-ancestors 'self'"

    /// The `Content-Security-Policy` of the embed page.
    static func embedPage(_ sources: String) -> String { "frame-ancestors \(sources)" }

    /// Checks an operator's `embed_frame_ancestors` and returns it with single spaces. Each source is `*`,
    /// `'self'`, `'none'` (alone), a scheme (`https:`) or a host source (`https://*.example.com:8443`).
    /// Anything that could end the directive or the header (`;`, `,`, quotes, control characters) is refused.
    public static func frameAncestors(_ value: String) throws(Invalid) -> String {
        let sources = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !sources.isEmpty else {
            throw Invalid(description: "embed_frame_ancestors is empty: use 'none' to forbid embedding, or * to allow any site")
        }
        for source in sources where !isSource(source) {
            throw Invalid(description: "embed_frame_ancestors: \"\(source)\" is not a frame-ancestors source "
                + "(use *, 'self', 'none', a scheme such as https:, or a host such as https://blog.example.com)")
        }
        if sources.contains("'none'") && sources.count > 1 {
            throw Invalid(description: "embed_frame_ancestors: 'none' cannot be combined with other sources")
        }
        return sources.joined(separator: " ")
    }

    private static func isSource(_ source: String) -> Bool {
        if ["*", "'self'", "'none'"].contains(source) { return true }
        guard source.count <= 255 else { return false }
        func isSchemeName<S: StringProtocol>(_ s: S) -> Bool {
            guard let first = s.first, first.isASCII, first.isLetter else { return false }
            return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
        }
        // A scheme source: "https:".
        if source.hasSuffix(":") { return isSchemeName(source.dropLast()) }
        // A host source: [scheme://]host[:port][/path]; the host may start with "*.".
        var rest = Substring(source)
        if let separator = rest.range(of: "://") {
            guard isSchemeName(rest[..<separator.lowerBound]) else { return false }
            rest = rest[separator.upperBound...]
        }
        let path = rest.firstIndex(of: "/").map { rest[$0...] } ?? ""
        rest = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
        let hostAndPort = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        var host = hostAndPort[0]
        if hostAndPort.count == 2 {
            let port = hostAndPort[1]
            guard port == "*" || (!port.isEmpty && port.count <= 5 && port.allSatisfy { $0.isASCII && $0.isNumber }) else { return false }
        }
        if host.hasPrefix("*.") { host = host.dropFirst(2) }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let hostOK = !host.isEmpty && labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        let pathOK = path.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~/%".contains($0)) }
        return hostOK && pathOK
    }
}
