import Crypto
import Foundation

/// Signed playback URLs: `/s/{expires}/{signature}/hls/{video}/…`.
///
/// The signature covers the video and the expiry, not the file, and sits in the path: the relative URLs
/// inside playlists (`540p/index.m3u8`, `seg-00001.m4s`) therefore resolve under the same signed prefix,
/// and no playlist has to be rewritten per viewer.
struct URLSigner: Sendable {
    let key: SymmetricKey

    init(key: [UInt8]) { self.key = SymmetricKey(data: key) }

    func signature(videoId: String, expires: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(videoId):\(expires)".utf8), using: key)
        return Base64URL.encode(Data(mac))
    }

    /// The signed folder of a video: `/s/{expires}/{signature}/hls/{video}`.
    func prefix(videoId: String, expires: Int64) -> String {
        "/s/\(expires)/\(signature(videoId: videoId, expires: expires))/hls/\(videoId)"
    }

    func path(videoId: String, expires: Int64, file: String = "master.m3u8") -> String {
        "\(prefix(videoId: videoId, expires: expires))/\(file)"
    }

    enum Verdict: Equatable { case valid, expired, invalid }

    func verify(videoId: String, expires: String, signature: String, now: Date = Date()) -> Verdict {
        guard let expiry = Int64(expires), let given = Base64URL.decode(signature) else { return .invalid }
        // Constant time, so the signature cannot be guessed byte by byte.
        guard HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data("\(videoId):\(expiry)".utf8), using: key)
        else { return .invalid }
        return Double(expiry) >= now.timeIntervalSince1970 ? .valid : .expired
    }
}

enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
