import Foundation
import Storage

/// Registering an original, the one way both `reel ingest` and uploads do it: the file lands at
/// `originals/<id>/source.<ext>` (one rule for the extension), hashed with SHA-256 on the way in, and the
/// video is created with its plan job in one transaction, only once every byte is on disk.
public enum Ingest {
    /// The extension an original keeps: the uploader's, lower-cased, when it is a short plain word
    /// (letters and digits, at most 8); otherwise `bin`. Nothing from a file name reaches a path unchecked.
    public static func fileExtension(_ filename: String?) -> String {
        let ext = (filename.map { ($0 as NSString).pathExtension } ?? "").lowercased()
        let plain = !ext.isEmpty && ext.count <= 8 && ext.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII }
        return plain ? ext : "bin"
    }

    /// A title as it is kept: no control characters (a NUL is refused by PostgreSQL, and none belongs in a
    /// page or a log line), at most 200 characters; nil when nothing is left.
    public static func cleanTitle(_ title: String?) -> String? {
        guard let title else { return nil }
        let kept = String(title.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f && !(0x80...0x9f).contains($0.value) }
            .map(Character.init)).trimmingCharacters(in: .whitespaces)
        return kept.isEmpty ? nil : String(kept.prefix(200))
    }

    /// Where the original of video `id` goes.
    public static func originalFile(id: String, filename: String?, layout: StorageLayout) -> URL {
        layout.originalFile(video: id, fileExtension: fileExtension(filename))
    }

    /// The video registered for an original at `original`: titled as given, else after the file name.
    public static func newVideo(id: String, title: String?, filename: String?, original: URL, size: Int64, sha256: String,
                                visibility: Visibility = .public, owner: String? = nil, layout: StorageLayout) -> NewVideo {
        let named = cleanTitle(title)
            ?? filename.map { ($0 as NSString).deletingPathExtension }.flatMap { $0.isEmpty ? nil : $0 } ?? "Untitled"
        return NewVideo(id: id, title: named, originalPath: layout.relative(original), sizeBytes: size, sha256: sha256,
                        visibility: visibility, filename: filename, ownerKeyId: owner)
    }

    /// The jobs a new video starts with.
    public static var firstJobs: [NewJob] { [.plan()] }

    /// `reel ingest`: copies a local file onto the storage root and registers it.
    public static func register(file: URL, title: String?, layout: StorageLayout, catalog: any Catalog) async throws -> VideoRecord {
        let id = UUID().uuidString.lowercased()
        let destination = originalFile(id: id, filename: file.lastPathComponent, layout: layout)
        let copied: (size: Int64, sha256: String)
        do {
            copied = try AtomicFile.copy(file, to: destination)
        } catch {
            try? FileManager.default.removeItem(at: layout.originalDirectory(video: id))
            throw error
        }
        let video = newVideo(id: id, title: title, filename: file.lastPathComponent, original: destination,
                             size: copied.size, sha256: copied.sha256, layout: layout)
        do {
            return try await catalog.createVideo(video, jobs: firstJobs)
        } catch {
            try? FileManager.default.removeItem(at: layout.originalDirectory(video: id))
            throw error
        }
    }
}
