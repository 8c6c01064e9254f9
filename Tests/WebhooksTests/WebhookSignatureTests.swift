import Foundation
import Testing
@testable import Webhooks

@Suite struct WebhookSignatureTests {
    let body = Array(#"{"event":"video.ready"}"#.utf8)
    let secret = "whsec_test"
    let at = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func signsLikeTheDocumentedScheme() {
        // Computed by the Python snippet in docs/WEBHOOKS.md, not by this code.
        #expect(WebhookSignature.sign(body: body, secret: secret, at: at)
                == "t=1700000000,v1=339211b4524be8cc0f90d349e38f57a32939d1067b0e745beeb9357a17133926")
    }

    @Test func roundTrip() throws {
        let header = WebhookSignature.sign(body: body, secret: secret, at: at)
        try WebhookSignature.verify(header: header, body: body, secret: secret, now: at.addingTimeInterval(299))
        // Several v1 entries (a secret being rotated): one that verifies is enough.
        let other = WebhookSignature.sign(body: body, secret: "whsec_old", at: at)
        let both = header + "," + other.split(separator: ",")[1]
        try WebhookSignature.verify(header: both, body: body, secret: "whsec_old", now: at)
    }

    @Test func rejectsAnotherSecretOrBody() {
        let header = WebhookSignature.sign(body: body, secret: secret, at: at)
        #expect(throws: WebhookSignatureError.mismatch) {
            try WebhookSignature.verify(header: header, body: body, secret: "whsec_other", now: at)
        }
        #expect(throws: WebhookSignatureError.mismatch) {
            try WebhookSignature.verify(header: header, body: body + [0x20], secret: secret, now: at)
        }
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replacingOccurrences(of: "t=1700000000", with: "t=1700000001")
        #expect(throws: WebhookSignatureError.mismatch) {
            try WebhookSignature.verify(header: moved, body: body, secret: secret, now: at)
        }
    }

    @Test(arguments: ["", "garbage", "t=1700000000", "v1=" + String(repeating: "a", count: 64),
                      "t=abc,v1=" + String(repeating: "a", count: 64), "t=1700000000,v1=zz",
                      "t=1700000000,v1=" + String(repeating: "a", count: 63),
                      "t=1700000000,t=1700000000,v1=" + String(repeating: "a", count: 64)])
    func rejectsMalformedHeaders(header: String) {
        #expect {
            try WebhookSignature.verify(header: header, body: body, secret: secret, now: at)
        } throws: { error in
            if case .malformed = error as? WebhookSignatureError { true } else { false }
        }
    }

    @Test func rejectsTimestampsOutsideTheReplayWindow() throws {
        let header = WebhookSignature.sign(body: body, secret: secret, at: at)
        #expect(throws: WebhookSignatureError.outsideTolerance(seconds: 301)) {
            try WebhookSignature.verify(header: header, body: body, secret: secret, now: at.addingTimeInterval(301))
        }
        #expect(throws: WebhookSignatureError.outsideTolerance(seconds: -301)) {
            try WebhookSignature.verify(header: header, body: body, secret: secret, now: at.addingTimeInterval(-301))
        }
        try WebhookSignature.verify(header: header, body: body, secret: secret, now: at.addingTimeInterval(300))
        #expect(throws: WebhookSignatureError.outsideTolerance(seconds: 61)) {
            try WebhookSignature.verify(header: header, body: body, secret: secret, now: at.addingTimeInterval(61), tolerance: 60)
        }
    }

    @Test func newSecretsAreRandomAndURLSafe() {
        let a = WebhookSignature.newSecret(), b = WebhookSignature.newSecret()
        #expect(a != b)
        #expect(a.hasPrefix("whsec_"))
        #expect(a.count == 6 + 43)  // 32 bytes in unpadded base64
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(a.dropFirst(6).allSatisfy(alphabet.contains))
    }
}
