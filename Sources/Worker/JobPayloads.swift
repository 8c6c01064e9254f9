import Foundation

/// The segment range of a video chunk job, stored as the job's JSON payload.
struct ChunkPayload: Codable, Equatable {
    var first: Int64
    /// Exclusive; nil runs to the end of the source.
    var end: Int64?

    var json: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self) }

    static func decode(_ text: String) throws -> ChunkPayload {
        try JSONDecoder().decode(ChunkPayload.self, from: Data(text.utf8))
    }
}
