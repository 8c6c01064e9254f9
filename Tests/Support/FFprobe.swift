import Foundation

/// Independent checks of our output through the Debian `ffprobe`/`ffmpeg` command-line tools.
public enum FFprobe {
    public struct Stream: Decodable {
        public var codec_type: String
        public var codec_name: String?
        public var width: Int?
        public var height: Int?
        public var sample_rate: String?
        public var channels: Int?
        public var duration: String?
        public var start_time: String?
        public var side_data_list: [SideData]?
        public struct SideData: Decodable { public var rotation: Int? }
    }
    public struct Format: Decodable { public var duration: String?; public var start_time: String? }
    public struct Output: Decodable { public var streams: [Stream]?; public var format: Format? }
    public struct Packet: Decodable { public var pts_time: String?; public var flags: String? }
    public struct Packets: Decodable { public var packets: [Packet]? }

    public static func info(_ path: String) throws -> Output {
        let r = try Tool.run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", "-show_format", path])
        guard r.status == 0 else { throw Failure("ffprobe \(path): \(r.stderr)") }
        return try JSONDecoder().decode(Output.self, from: Data(r.stdout.utf8))
    }

    public static func packets(_ path: String, stream: String = "v:0", extra: [String] = []) throws -> [Packet] {
        let r = try Tool.run("ffprobe", ["-v", "error", "-print_format", "json", "-select_streams", stream,
                                         "-show_entries", "packet=pts_time,flags"] + extra + [path])
        guard r.status == 0 else { throw Failure("ffprobe packets \(path): \(r.stderr)") }
        return try JSONDecoder().decode(Packets.self, from: Data(r.stdout.utf8)).packets ?? []
    }

    /// Presentation times of the keyframes of a media playlist, as ffprobe prints them.
    public static func keyframeTimes(_ playlist: String) throws -> [String] {
        try packets(playlist).filter { $0.flags?.hasPrefix("K") == true }.compactMap(\.pts_time)
    }

    /// Duration of a playlist or file in seconds.
    public static func duration(_ path: String) throws -> Double {
        let out = try info(path)
        guard let d = out.format?.duration.flatMap(Double.init) else { throw Failure("no duration for \(path)") }
        return d
    }

    /// Decodes the whole input with `ffmpeg`; returns its error output (empty when clean).
    /// `seconds` limits how much is decoded: an EVENT playlist without ENDLIST is live to ffmpeg, which
    /// would otherwise wait for more segments.
    public static func decodeErrors(_ path: String, seconds: Double? = nil) throws -> String {
        var args = ["-nostdin", "-v", "error"]
        if seconds != nil { args += ["-live_start_index", "0"] }
        args += ["-i", path, "-map", "0:v?", "-map", "0:a?"]
        if let seconds { args += ["-t", String(seconds)] }
        let r = try Tool.run("ffmpeg", args + ["-f", "null", "-"], timeout: seconds == nil ? 300 : 60)
        return r.status == 0 ? r.stderr : "exit \(r.status): \(r.stderr)"
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}
