import Captions
import Foundation
import Testing

@Suite struct CaptionParserTests {
    func parse(_ text: String, _ format: CaptionParser.Format? = nil, limits: CaptionLimits = CaptionLimits()) throws(CaptionError) -> [Cue] {
        try CaptionParser.parse(Data(text.utf8), format: format, limits: limits)
    }

    func failure(_ text: String, _ format: CaptionParser.Format? = nil, limits: CaptionLimits = CaptionLimits()) -> CaptionError? {
        do { _ = try parse(text, format, limits: limits); return nil } catch { return error }
    }

    @Test func webVTTWithHeaderNotesIdentifiersAndSettings() throws {
        let cues = try parse("\u{FEFF}WEBVTT - a title\nKind: captions\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.500 --> 00:03.250 align:start line:90%\nHello\n<i>there</i>\n\n01:00:00.000 --> 01:00:01.000\nLate\n")
        #expect(cues == [Cue(start: 1.5, end: 3.25, settings: "align:start line:90%", text: "Hello\n<i>there</i>"),
                         Cue(start: 3600, end: 3601, text: "Late")])
    }

    @Test func subRipWithCRLFAndMissingFinalNewline() throws {
        let cues = try parse("1\r\n00:00:01,000 --> 00:00:02,500\r\nOne\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nTwo\r\nlines")
        #expect(cues == [Cue(start: 1, end: 2.5, text: "One"), Cue(start: 3, end: 4, text: "Two\nlines")])
    }

    @Test func vttNeedsItsHeaderWhenNamedVTT() {
        #expect(failure("00:01.000 --> 00:02.000\nHi\n", .webVTT) == CaptionError(line: 1, "a WebVTT file must start with the line \"WEBVTT\""))
    }

    @Test func badTimestampNamesItsLine() {
        #expect(failure("WEBVTT\n\n00:01.000 --> 00:02.000\nOk\n\n00:03.000 --> 00:4.000\nBad\n")?.line == 6)
        #expect(failure("1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\n00:00:61,000 --> 00:00:62,000\nBad\n")?.line == 6)
        #expect(failure("WEBVTT\n\n00:01.000 --> \nBad\n")?.line == 3)
    }

    @Test func endBeforeStartNamesItsLine() throws {
        let error = try #require(failure("1\n00:00:05,000 --> 00:00:02,000\nBackwards\n"))
        #expect(error.line == 2)
        #expect(error.reason.contains("not after it starts"))
    }

    @Test func srtWithoutNumberOrTiming() {
        #expect(failure("1\n00:00:01,000 --> 00:00:02,000\nOk\n\nhello\nworld\n")?.line == 5)
        #expect(failure("1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\nnot a timing line\n")?.line == 6)
    }

    @Test func missingBlankLineBetweenCues() {
        #expect(failure("WEBVTT\n\n00:01.000 --> 00:02.000\nOne\n00:03.000 --> 00:04.000\nTwo\n")?.line == 5)
    }

    @Test func notUTF8NamesTheLine() {
        var data = Data("WEBVTT\n\n00:01.000 --> 00:02.000\n".utf8)
        data.append(contentsOf: [0x63, 0x61, 0x66, 0xE9, 0x0A])  // "café" in Latin-1
        #expect(throws: CaptionError(line: 4, "the line is not valid UTF-8 (save the file as UTF-8)")) {
            try CaptionParser.parse(data)
        }
    }

    @Test func limits() {
        let limits = CaptionLimits(maxBytes: 200, maxCues: 2, maxLineBytes: 30)
        #expect(failure(String(repeating: "x", count: 201), limits: limits)?.line == 0)
        #expect(failure("WEBVTT\n\n00:01.000 --> 00:02.000\n" + String(repeating: "y", count: 31) + "\n", limits: limits)?.line == 4)
        let three = "WEBVTT\n\n00:01.000 --> 00:02.000\na\n\n00:02.000 --> 00:03.000\nb\n\n00:03.000 --> 00:04.000\nc\n"
        #expect(failure(three, limits: limits)?.line == 9)
    }

    @Test func emptyFileHasNoCues() {
        #expect(failure("WEBVTT\n") == CaptionError(line: 0, "the file has no cues"))
        #expect(failure("") == CaptionError(line: 0, "the file has no cues"))
    }

    @Test func timestamps() {
        #expect(CaptionParser.parseTimestamp("01:02:03.004", vtt: true) == 3723.004)
        #expect(CaptionParser.parseTimestamp("02:03.004", vtt: true) == 123.004)
        #expect(CaptionParser.parseTimestamp("02:03,004", vtt: true) == nil)
        #expect(CaptionParser.parseTimestamp("02:03.04", vtt: true) == nil)
        #expect(CaptionParser.parseTimestamp("00:02:03,004", vtt: false) == 123.004)
        #expect(CaptionParser.parseTimestamp("00:02:03.5", vtt: false) == 123.5)
        #expect(CaptionParser.parseTimestamp("00:60:03,004", vtt: false) == nil)
        #expect(CaptionParser.parseTimestamp("-0:02:03,004", vtt: false) == nil)
    }

    @Test func languageTags() {
        for good in ["en", "pt-BR", "zh-Hant", "es-419", "sgn-BE-FR"] { #expect(CaptionTrack.isLanguageTag(good), "\(good)") }
        for bad in ["", "e", "en_US", "en-", "english language", "1a", "en-abcdefghi"] { #expect(!CaptionTrack.isLanguageTag(bad), "\(bad)") }
    }
}
