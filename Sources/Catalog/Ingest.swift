import Foundation
import Storage

/// Registering an original: copy it onto the storage root (hashing it on the way), then create the video
/// and its plan job in one transaction. The video exists only once every byte is on disk.
public enum Ingest {
    /// `JobPriority.plan`, for callers that build the plan job themselves (`NewJob.plan()` does it).
    public static let planPriority = JobPriority.plan

    public static func register(file: URL, title: String?, layout: StorageLayout, catalog: any Catalog) async throws -> VideoRecord {
        let id = UUID().uuidString.lowercased()
        let ext = file.pathExtension.isEmpty ? "bin" : file.pathExtension.lowercased()
        let destination = layout.originalFile(video: id, fileExtension: ext)
        let copied: (size: Int64, sha256: String)
        do {
            copied = try AtomicFile.copy(file, to: destination)
        } catch {
            try? FileManager.default.removeItem(at: layout.originalDirectory(video: id))
            throw error
        }
        let video = NewVideo(id: id, title: title ?? file.deletingPathExtension().lastPathComponent,
                             originalPath: layout.relative(destination), sizeBytes: copied.size, sha256: copied.sha256)
        do {
            return try await catalog.createVideo(video, jobs: [.plan()])
        } catch {
            try? FileManager.default.removeItem(at: layout.originalDirectory(video: id))
            throw error
        }
    }
}
