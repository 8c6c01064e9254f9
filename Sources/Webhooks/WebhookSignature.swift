import Crypto
import Foundation

/// The `Reel-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
///
/// The timestamp is inside the signed text, so a receiver that checks it against its own clock (the replay
/// window) knows an old delivery replayed by someone who captured it. Several `v1=` entries may appear (one
/// per secret while a secret is rotated); a header verifies if any of them does.
public enum WebhookSignature {
    public static let headerName = "Reel-Signature"
    public static let defaultTolerance: TimeInterval = 300
    public static let secretPrefix = "whsec_"

    /// The header value for `body`, signed with `secret` (the whole string, prefix included, as UTF-8) at `date`.
    public static func sign(body: some Sequence<UInt8>, secret: String, at date: Date) -> String {
        let timestamp = Int64(date.timeIntervalSince1970.rounded(.down))
        return "t=\(timestamp),v1=\(hex(mac(timestamp: timestamp, body: body, secret: secret)))"
    }

    /// Throws unless `header` carries a `v1` signature of `body` under `secret` made within `tolerance`
    /// seconds of `now` (either side: a clock ahead is as suspicious as one behind).
    public static func verify(header: String, body: some Sequence<UInt8>, secret: String, now: Date = Date(),
                              tolerance: TimeInterval = defaultTolerance) throws(WebhookSignatureError) {
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard let equals = pair.firstIndex(of: "=") else { throw .malformed("\"\(pair)\" is not key=value") }
            let key = pair[..<equals], value = pair[pair.index(after: equals)...]
            switch key {
            case "t":
                guard timestamp == nil, let t = Int64(value), t >= 0 else {
                    throw .malformed("the timestamp t must appear once, as whole unix seconds")
                }
                timestamp = t
            case "v1":
                guard let bytes = bytes(fromHex: value), bytes.count == SHA256.byteCount else {
                    throw .malformed("a v1 signature must be 64 hex digits")
                }
                signatures.append(bytes)
            default:
                continue  // later schemes (v2=…) are ignored, as receivers should
            }
        }
        guard let timestamp else { throw .malformed("there is no timestamp t=") }
        guard !signatures.isEmpty else { throw .malformed("there is no v1= signature") }
        let age = now.timeIntervalSince1970 - TimeInterval(timestamp)
        guard abs(age) <= tolerance else { throw .outsideTolerance(seconds: Int(age.rounded())) }

        let key = SymmetricKey(data: Array(secret.utf8))
        let signed = signedText(timestamp: timestamp, body: body)
        // HMAC's own check compares in constant time, so the time taken tells nothing about the expected bytes.
        guard signatures.contains(where: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key) }) else {
            throw .mismatch
        }
    }

    /// A new endpoint secret: `whsec_` and 32 random bytes in base64url without padding.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64url = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return secretPrefix + base64url
    }

    static func signedText(timestamp: Int64, body: some Sequence<UInt8>) -> [UInt8] {
        Array("\(timestamp).".utf8) + Array(body)
    }

    static func mac(timestamp: Int64, body: some Sequence<UInt8>, secret: String) -> [UInt8] {
        let code = HMAC<SHA256>.authenticationCode(for: signedText(timestamp: timestamp, body: body),
                                                   using: SymmetricKey(data: Array(secret.utf8)))
        return Array(code)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(fromHex text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

/// Why a `Reel-Signature` header did not verify.
public enum WebhookSignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case outsideTolerance(seconds: Int)
    case mismatch

    public var description: String {
        switch self {
        case .malformed(let why): "The Reel-Signature header is malformed: \(why)."
        case .outsideTolerance(let seconds):
            "The Reel-Signature timestamp is \(abs(seconds)) s \(seconds >= 0 ? "old" : "in the future"), outside the replay window."
        case .mismatch: "The Reel-Signature does not match the body and the secret."
        }
    }
}
