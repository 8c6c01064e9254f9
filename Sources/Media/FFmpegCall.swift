import CFFmpeg

/// A failed FFmpeg call: which call, and FFmpeg's own words for the error code.
/// Internal: callers translate it into a `MediaError` a person can read.
struct FFmpegCallError: Error, CustomStringConvertible {
    let call: String
    let code: Int32

    var description: String { "\(call): \(ffmpegErrorText(code))" }
    var isEndOfFile: Bool { code == reel_averror_eof() }
    var isInvalidData: Bool { code == reel_averror_invaliddata() }
}

/// Text for an FFmpeg error code (`av_strerror`).
func ffmpegErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    _ = reel_error_string(code, &buffer, buffer.count)
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Throws when an FFmpeg call returned a negative status; passes the value through otherwise.
@discardableResult
func ffCheck(_ status: Int32, _ call: @autoclosure () -> String) throws -> Int32 {
    if status < 0 { throw FFmpegCallError(call: call(), code: status) }
    return status
}

let averrorEAGAIN = reel_averror_eagain()
let averrorEOF = reel_averror_eof()
let noPTS = reel_nopts()
