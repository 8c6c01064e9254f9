import Catalog
import Foundation
import Testing
@testable import Server

@Suite("Upload pieces")
struct UploadPieceTests {
    @Test func tusMetadata() throws {
        let header = "filename \(Data("my film.mp4".utf8).base64EncodedString()),visibility \(Data("private".utf8).base64EncodedString()),flag"
        let metadata = try UploadInfo.parseMetadata(header)
        #expect(metadata == ["filename": "my film.mp4", "visibility": "private", "flag": ""])
        #expect(try UploadInfo.parseMetadata(nil) == [:])
        #expect(throws: Problem.self) { try UploadInfo.parseMetadata("filename not*base64") }
    }

    @Test func fileNamesAreLabelsNotPaths() {
        #expect(UploadInfo.cleanFilename("../../etc/passwd") == "passwd")
        #expect(UploadInfo.cleanFilename("C:\\Users\\me\\clip.mov") == "clip.mov")
        #expect(UploadInfo.cleanFilename("a\u{0}b\nc.mp4") == "abc.mp4")
        #expect(UploadInfo.cleanFilename("") == nil)
        #expect(Ingest.cleanTitle("Holiday\u{0}\n\u{1b}[31m 2026 ") == "Holiday[31m 2026")
        #expect(Ingest.cleanTitle("\u{0}\u{7}") == nil && Ingest.cleanTitle(nil) == nil)
        #expect(Ingest.cleanTitle(String(repeating: "é", count: 300))?.count == 200)
        #expect(Ingest.fileExtension("clip.MOV") == "mov")
        #expect(Ingest.fileExtension("noext") == "bin")
        #expect(Ingest.fileExtension("weird.m p4") == "bin")
        #expect(Ingest.fileExtension(nil) == "bin")
    }

    @Test func visibility() throws {
        #expect(try UploadInfo.visibility(nil) == .public)
        #expect(try UploadInfo.visibility("Private") == .private)
        #expect(throws: Problem.self) { try UploadInfo.visibility("secret") }
    }

    @Test func apiKeysAreRandomAndOnlyTheirHashIsKept() {
        let a = Authenticator.newKey(), b = Authenticator.newKey()
        #expect(a.secret != b.secret)
        #expect(a.secret.hasPrefix("reel_") && a.secret.count >= 40)
        #expect(a.hash == Authenticator.hash(a.secret))
        #expect(!a.hash.contains(String(a.secret.dropFirst(5).prefix(10))))
        #expect(a.hash.count == 64)
    }

    @Test func metricRoutesHaveBoundedLabels() {
        #expect(ServerMetrics.route(of: "/") == "/")
        #expect(ServerMetrics.route(of: "/hls/abc/540p/seg-00001.m4s") == "/hls")
        #expect(ServerMetrics.route(of: "/s/1/sig/hls/abc/master.m3u8") == "/hls")
        #expect(ServerMetrics.route(of: "/v1/videos/abc") == "/v1/videos")
        #expect(ServerMetrics.route(of: "/v1/uploads/abc") == "/v1/uploads")
        #expect(ServerMetrics.route(of: "/watch/abc") == "/pages")
        #expect(ServerMetrics.route(of: "/wp-admin/x.php") == "other")
        #expect(ServerMetrics.route(of: "/v1/anything-random") == "other")
        #expect(ServerMetrics.route(of: "/metrics/x") == "other")
        #expect(ServerMetrics.route(of: "/metrics") == "/metrics")
        #expect(ServerMetrics.method(.init("FOO123")!) == "OTHER")
    }
}
