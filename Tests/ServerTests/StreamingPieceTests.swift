import Foundation
import NIOCore
import Testing
@testable import Server

@Suite("Streaming handler pieces")
struct StreamingPieceTests {
    @Test("Only plain names below a video's folder are served", arguments: [
        (["abc", "master.m3u8"], true),
        (["abc", "540p", "seg-00001.m4s"], true),
        (["abc", "..", "reel.sqlite"], false),
        (["..", "reel.sqlite"], false),
        (["abc", "%2e%2e", "reel.sqlite"], false),
        (["abc", "..%2f..%2freel.sqlite"], false),
        (["abc", "540p%2fseg.m4s"], false),
        (["abc", "", "master.m3u8"], false),
        (["abc", ".seg.m4s.part"], false),
        (["abc", "parts", "x.json"], false),
        (["abc"], false),
        (["abc", "a", "b", "c", "d"], false),
        (["abc", "seg%00.m4s"], false),
    ])
    func mediaPaths(components: [String], allowed: Bool) {
        #expect((MediaPath.parse(components) != nil) == allowed)
    }

    @Test func mediaTypes() {
        #expect(MediaPath.parse(["v", "master.m3u8"])?.contentType == "application/vnd.apple.mpegurl")
        #expect(MediaPath.parse(["v", "360p", "init.mp4"])?.contentType == "video/mp4")
        #expect(MediaPath.parse(["v", "360p", "seg-00000.m4s"])?.contentType == "video/iso.segment")
        #expect(MediaPath.parse(["v", "poster.jpg"])?.contentType == "image/jpeg")
    }

    @Test("The storyboard index and its sheets are their own kind: kept an hour, not for ever like caption segments")
    func storyboardFiles() {
        let index = MediaPath.parse(["v", "storyboard.vtt"])
        #expect(index?.kind == .storyboard)
        #expect(index?.contentType == "text/vtt; charset=utf-8")
        let sheet = MediaPath.parse(["v", "storyboard", "12.jpg"])
        #expect(sheet?.kind == .storyboard)
        #expect(sheet?.contentType == "image/jpeg")
        // A caption track's WebVTT segments stay immutable, whatever they are called.
        #expect(MediaPath.parse(["v", "subs-x", "storyboard.vtt"])?.kind == .subtitles)
        #expect(MediaPath.parse(["v", "storyboard", "x.m4s"])?.kind == .segment)
    }

    @Test("Range headers", arguments: [
        ("bytes=0-99", ByteRangeRequest.satisfiable(0...99)),
        ("bytes=100-", .satisfiable(100...999)),
        ("bytes=-50", .satisfiable(950...999)),
        ("bytes=-5000", .satisfiable(0...999)),
        ("bytes=990-5000", .satisfiable(990...999)),
        ("bytes=1000-", .unsatisfiable),
        ("bytes=-0", .unsatisfiable),
        ("bytes=5-2", .none),
        ("items=0-5", .none),
        ("bytes=x-5", .none),
        ("bytes=", .none),
        ("bytes=0-1,x", .none),
        // Numbers too large for any integer: a last position or suffix is clamped to the file, a first
        // position is past its end.
        ("bytes=0-99999999999999999999", .satisfiable(0...999)),
        ("bytes=0-9223372036854775807", .satisfiable(0...999)),
        ("bytes=-99999999999999999999", .satisfiable(0...999)),
        ("bytes=99999999999999999999-", .unsatisfiable),
        ("bytes=99999999999999999999-99999999999999999999", .unsatisfiable),
        // Several ranges: multipart, skipping unsatisfiable ones; whole file past 16 or more bytes than the file.
        ("bytes=0-1,5-6", .several([0...1, 5...6])),
        ("bytes=0-1, ,5-6", .several([0...1, 5...6])),
        ("bytes=2000-3000,0-0", .satisfiable(0...0)),
        ("bytes=2000-,3000-", .unsatisfiable),
        ("bytes=0-,0-", .none),
        ("bytes=-600,-600", .none),
        ("bytes=" + (0..<17).map { "\($0)-\($0)" }.joined(separator: ","), .none),
        ("bytes=" + (0..<16).map { "\($0)-\($0)" }.joined(separator: ","), .several((0..<16).map { $0...$0 })),
    ])
    func ranges(header: String, expected: ByteRangeRequest) {
        #expect(ByteRangeRequest.parse(header, size: 1000) == expected)
    }

    @Test func signedURLs() {
        let signer = URLSigner(key: Array("0123456789abcdef0123456789abcdef".utf8))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let expires: Int64 = 1_800_000_600
        let signature = signer.signature(videoId: "v1", expires: expires)
        #expect(signer.verify(videoId: "v1", expires: "\(expires)", signature: signature, now: now) == .valid)
        #expect(signer.verify(videoId: "v1", expires: "\(expires)", signature: signature, now: now.addingTimeInterval(601)) == .expired)
        #expect(signer.verify(videoId: "v2", expires: "\(expires)", signature: signature, now: now) == .invalid)
        #expect(signer.verify(videoId: "v1", expires: "\(expires + 1)", signature: signature, now: now) == .invalid)
        var tampered = Array(signature)
        tampered[3] = tampered[3] == "A" ? "B" : "A"
        #expect(signer.verify(videoId: "v1", expires: "\(expires)", signature: String(tampered), now: now) == .invalid)
        #expect(signer.verify(videoId: "v1", expires: "soon", signature: signature, now: now) == .invalid)
        #expect(signer.path(videoId: "v1", expires: expires).hasPrefix("/s/\(expires)/\(signature)/hls/v1/master.m3u8"))
        // The test suite in Tests/http computes signatures independently with Python's hmac; this pins the format.
        #expect(!signature.contains("=") && !signature.contains("+") && !signature.contains("/"))
    }

    @Test func finishedPlaylistsAreRecognisedByTheirTail() {
        let event = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n" + String(repeating: "#EXTINF:6.0,\nseg.m4s\n", count: 50)
        #expect(!StreamingHandler.hasEndList(ByteBuffer(string: event)))
        #expect(StreamingHandler.hasEndList(ByteBuffer(string: event + "#EXT-X-ENDLIST\n")))
        #expect(StreamingHandler.hasEndList(ByteBuffer(string: "#EXT-X-ENDLIST")))
    }

    @Test func httpDates() {
        #expect(HTTPDate.format(epochSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse(HTTPDate.format(epochSeconds: 1_800_000_000)) == 1_800_000_000)
    }

    @Test func gzipRoundTripsThroughTheSystemTool() throws {
        let text = String(repeating: "#EXTINF:6.000,\nseg-00001.m4s\n", count: 200)
        let zipped = try #require(Gzip.compress(Array(text.utf8)))
        #expect(zipped.count < text.utf8.count / 5)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("reel-gzip-\(getpid()).gz")
        try Data(zipped).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(String(decoding: output, as: UTF8.self) == text)
    }

    @Test("Accept-Encoding", arguments: [
        ("gzip", true), ("gzip, deflate, br", true), ("br;q=1.0, gzip;q=0.8", true), ("gzip;q=0", false),
        ("identity", false), ("*", true),
    ])
    func acceptEncoding(header: String, gzip: Bool) {
        #expect(Gzip.accepted(header) == gzip)
    }
}
