import Foundation

/// The segment range of a video chunk job, stored as the job's JSON payload.
struct ChunkPayload: Codable, Equatable {
    var first: Int64
    /// Exclusive; nil runs to the end of the source.
    var end: Int64?
    /// The rungs to encode, when the piece is split across workers by rung; nil for all.
    var rungs: [String]? = nil

    /// The name of the piece's manifest: by first segment, and by rungs for a piece split that way.
    var pieceName: String {
        let base = String(format: "video-%06lld", first)
        guard let rungs else { return base }
        return base + "." + rungs.joined(separator: "+")
    }

    var json: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self) }

    static func decode(_ text: String) throws -> ChunkPayload {
        try JSONDecoder().decode(ChunkPayload.self, from: Data(text.utf8))
    }
}
