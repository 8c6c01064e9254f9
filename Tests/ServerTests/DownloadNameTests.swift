import Foundation
import Testing
@testable import Server

@Suite("Downloads: paths, types and file names")
struct DownloadNameTests {
    @Test func downloadPathsAndTypes() {
        #expect(MediaPath.parse(["v", "download", "720p.mp4"])?.kind == .download)
        #expect(MediaPath.parse(["v", "download", "720p.mp4"])?.contentType == "video/mp4")
        #expect(MediaPath.parse(["v", "download", "audio.m4a"])?.contentType == "audio/mp4")
        // Only files directly in download/ are downloads; an init segment stays what it is.
        #expect(MediaPath.parse(["v", "360p", "init.mp4"])?.kind == .initSegment)
        #expect(MediaPath.parse(["v", "download", "x", "720p.mp4"])?.kind == .other)
        #expect(MediaPath.parse(["v", "download", ".720p.mp4.123.part"]) == nil)
        #expect(MediaPath.parse(["v", "download", "..%2F540p%2Findex.m3u8"]) == nil)
    }

    @Test("Content-Disposition", arguments: [
        ("Holiday", "720p.mp4", #"attachment; filename="Holiday.mp4""#),
        ("holiday.mov", "720p.mp4", #"attachment; filename="holiday.mp4""#),
        ("Holiday", "audio.m4a", #"attachment; filename="Holiday.m4a""#),
        ("A \"quoted\" / path\\name", "720p.mp4", #"attachment; filename="A _quoted_ _ path_name.mp4""#),
        ("Zürich", "720p.mp4", #"attachment; filename="Zurich.mp4"; filename*=UTF-8''Z%C3%BCrich.mp4"#),
        ("日本の夏", "720p.mp4", #"attachment; filename="v1.mp4"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E3%81%AE%E5%A4%8F.mp4"#),
        ("", "720p.mp4", #"attachment; filename="v1.mp4""#),
        ("...", "720p.mp4", #"attachment; filename="v1.mp4""#),
        ("a;b,c%d", "720p.mp4", #"attachment; filename="a_b_c_d.mp4"; filename*=UTF-8''a%3Bb%2Cc%25d.mp4"#),
    ])
    func contentDisposition(title: String, file: String, expected: String) {
        #expect(DownloadName.contentDisposition(title: title, videoId: "v1", file: file) == expected)
    }

    @Test func longTitlesAreCut() {
        let value = DownloadName.contentDisposition(title: String(repeating: "a", count: 500), videoId: "v", file: "720p.mp4")
        #expect(value == "attachment; filename=\"\(String(repeating: "a", count: 100)).mp4\"")
    }
}
