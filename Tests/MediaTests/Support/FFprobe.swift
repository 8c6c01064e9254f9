import Foundation

/// Independent checks of our output through the Debian `ffprobe`/`ffmpeg` command-line tools.
enum FFprobe {
    struct Stream: Decodable {
        var codec_type: String
        var codec_name: String?
        var width: Int?
        var height: Int?
        var sample_rate: String?
        var channels: Int?
        var duration: String?
        var start_time: String?
        var side_data_list: [SideData]?
        struct SideData: Decodable { var rotation: Int? }
    }
    struct Format: Decodable { var duration: String?; var start_time: String? }
    struct Output: Decodable { var streams: [Stream]?; var format: Format? }
    struct Packet: Decodable { var pts_time: String?; var flags: String? }
    struct Packets: Decodable { var packets: [Packet]? }

    static func info(_ path: String) throws -> Output {
        let r = try Tool.run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", "-show_format", path])
        guard r.status == 0 else { throw Failure("ffprobe \(path): \(r.stderr)") }
        return try JSONDecoder().decode(Output.self, from: Data(r.stdout.utf8))
    }

    static func packets(_ path: String, stream: String = "v:0", extra: [String] = []) throws -> [Packet] {
        let r = try Tool.run("ffprobe", ["-v", "error", "-print_format", "json", "-select_streams", stream,
                                         "-show_entries", "packet=pts_time,flags"] + extra + [path])
        guard r.status == 0 else { throw Failure("ffprobe packets \(path): \(r.stderr)") }
        return try JSONDecoder().decode(Packets.self, from: Data(r.stdout.utf8)).packets ?? []
    }

    /// Presentation times of the keyframes of a media playlist, as ffprobe prints them.
    static func keyframeTimes(_ playlist: String) throws -> [String] {
        try packets(playlist).filter { $0.flags?.hasPrefix("K") == true }.compactMap(\.pts_time)
    }

    /// Duration of a playlist or file in seconds.
    static func duration(_ path: String) throws -> Double {
        let out = try info(path)
        guard let d = out.format?.duration.flatMap(Double.init) else { throw Failure("no duration for \(path)") }
        return d
    }

    /// Decodes the whole input with `ffmpeg`; returns its error output (empty when clean).
    /// `seconds` limits how much is decoded: an EVENT playlist without ENDLIST is live to ffmpeg, which
    /// would otherwise wait for more segments.
    static func decodeErrors(_ path: String, seconds: Double? = nil) throws -> String {
        var args = ["-nostdin", "-v", "error"]
        if seconds != nil { args += ["-live_start_index", "0"] }
        args += ["-i", path, "-map", "0:v?", "-map", "0:a?"]
        if let seconds { args += ["-t", String(seconds)] }
        let r = try Tool.run("ffmpeg", args + ["-f", "null", "-"], timeout: seconds == nil ? 300 : 60)
        return r.status == 0 ? r.stderr : "exit \(r.status): \(r.stderr)"
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
