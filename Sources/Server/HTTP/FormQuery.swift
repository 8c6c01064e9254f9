import Foundation
import Hummingbird
import HummingbirdCore

/// Query parameters that hold people's text (a title, a file name, a caption label), read the way
/// HTML forms, curl's `--data-urlencode -G` and most HTTP libraries write them: `+` is a space and `%2B` a
/// plus (application/x-www-form-urlencoded). Hummingbird's `queryParameters` decodes only `%XX`, so
/// "My+Holiday" would stay "My+Holiday". Machine values (ids, numbers, digests) keep using that.
enum FormQuery {
    static func value(_ name: String, in uri: URI) -> String? {
        guard let query = uri.query else { return nil }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard decode(parts[0]) == name else { continue }
            return parts.count > 1 ? decode(parts[1]) : ""
        }
        return nil
    }

    /// `+` to space, then `%XX`; text that is not valid percent-encoding is kept as it came.
    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
