import Catalog
import Foundation
import Media
import Storage
import Testing
@testable import Worker

/// A running piece's partial manifest counts only until the piece's own manifest is written, so a
/// worker that lost the job and writes late cannot shorten what finalize reads.
@Suite("Partial manifests")
struct PartialManifestTests {
    func audio(segments: Int) throws -> [RenditionSummary] {
        let list = (0..<segments).map { #"{"index":\#($0),"uri":"seg-\#($0).m4s","duration":2,"bytes":1000}"# }
        let json = #"[{"name":"audio","kind":"audio","codecs":"mp4a.40.2","segments":[\#(list.joined(separator: ","))],"iframes":[]}]"#
        return try JSONDecoder().decode([RenditionSummary].self, from: Data(json.utf8))
    }

    @Test func theFinishedManifestOutranksAPartialOne() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reel-partial-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let publisher = PlaylistPublisher(layout: StorageLayout(root: root),
                                          catalog: try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path), segmentDuration: 6)
        let segments = { try publisher.manifests(video: "v").flatMap(\.segments).count }

        try publisher.savePartialManifest(try audio(segments: 3), video: "v", piece: "audio")
        #expect(try segments() == 3)
        try publisher.saveManifest(try audio(segments: 5), video: "v", piece: "audio")
        #expect(try segments() == 5)  // not 8: the partial one no longer counts
        try publisher.savePartialManifest(try audio(segments: 2), video: "v", piece: "audio")  // a late, stale write
        #expect(try segments() == 5)
        publisher.removePartialManifest(video: "v", piece: "audio")
        #expect(try segments() == 5)
    }
}
