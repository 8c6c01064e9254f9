import Catalog
import Foundation
import Storage

/// `reel restore SRC`: a new storage root and catalog from a backup.
///
/// Every file of the backup is checked against the manifest first, so a damaged backup is refused
/// before anything is written. Then the root's files are copied, the catalog is put in place (the SQLite
/// file, or `pg_restore` into an empty database), and every video is queued again from its original
/// (`Catalog.requeue`): the workers rebuild the outputs a backup does not hold. Videos whose processing
/// had failed stay failed (their original is what failed); videos the backup skipped are removed, and so
/// are uploads that were in progress (their bytes are not in a backup).
public struct BackupRestorer: Sendable {
    public let layout: StorageLayout
    public let catalogURL: String

    public init(layout: StorageLayout, catalogURL: String) {
        self.layout = layout
        self.catalogURL = catalogURL
    }

    public struct Summary: Sendable {
        public var videos: Int
        public var requeued: Int
        public var files: Int
        public var removed: [String]
    }

    /// Checks the backup and the target, then restores the root's files and the catalog; `open` then
    /// opens the restored catalog (migrating it, for a backup made by an older Reel).
    public func restore(from backup: URL, open: @Sendable (String) async throws -> any Catalog) async throws -> Summary {
        let manifest = try BackupManifest.read(from: backup)
        try checkTarget(manifest)
        try verify(manifest, in: backup)

        let root = backup.appendingPathComponent("root", isDirectory: true)
        for file in manifest.files {
            _ = try AtomicFile.copy(root.appendingPathComponent(file.path), to: layout.absolute(file.path))
        }
        for secret in [layout.signingKeyFile, layout.adminKeyFile] { chmod(secret.path, 0o600) }
        let dump = backup.appendingPathComponent(manifest.catalog.path)
        switch manifest.catalogKind {
        case .sqlite: _ = try AtomicFile.copy(dump, to: URL(fileURLWithPath: try CatalogConnector.sqlitePath(catalogURL)))
        case .postgres: try PostgresTools.restore(try PostgresURL(catalogURL), from: dump)
        }

        let catalog = try await open(catalogURL)
        // The restored catalog's videos, not the manifest's: on PostgreSQL the list was read just after the
        // dump, so a video may be in one and not the other. One whose original is not in the backup (skipped,
        // or deleted while the backup ran) is removed; one only the manifest knows is simply not there.
        let originals = Set(manifest.files.map(\.path))
        var removed: [String] = []
        var keep: [VideoRecord] = []
        for video in try await BackupWriter.allVideos(catalog) {
            if originals.contains(video.originalPath) { keep.append(video); continue }
            try await catalog.deleteVideo(id: video.id)
            removed.append(video.id)
        }
        // Uploads in progress: their bytes were not backed up, so their records go (a tus client then
        // finds its upload gone and starts again, rather than resuming onto a missing file).
        let far = Date.distantFuture
        for upload in try await catalog.expiredUploads(now: far, createdBefore: far, finishedBefore: far) {
            if try await catalog.lockUpload(id: upload.id, holder: "reel-restore", until: far, now: Date()) != nil {
                try await catalog.deleteUpload(id: upload.id, holder: "reel-restore")
            }
        }
        var requeued = 0
        for video in keep where video.state != .failed {
            try await catalog.requeue(videoId: video.id, jobs: [.plan()])
            requeued += 1
        }
        return Summary(videos: keep.count, requeued: requeued, files: manifest.files.count, removed: removed)
    }

    /// The storage root must be new (or an empty directory), and so must a SQLite catalog file.
    func checkTarget(_ manifest: BackupManifest) throws {
        let fm = FileManager.default
        if let entries = try? fm.contentsOfDirectory(atPath: layout.root.path), !entries.isEmpty {
            throw BackupError("the storage root \(layout.root.path) is not empty; restore into a new directory")
        }
        let toPostgres = PostgresURL.isPostgres(catalogURL)
        switch (manifest.catalogKind, toPostgres) {
        case (.sqlite, true):
            throw BackupError("this backup holds a SQLite catalog: restore it with a SQLite catalog, then move it with `reel catalog migrate`")
        case (.postgres, false):
            throw BackupError("this backup holds a PostgreSQL catalog: restore it with --database postgres://… (an empty database)")
        case (.sqlite, false):
            let path = try CatalogConnector.sqlitePath(catalogURL)
            if fm.fileExists(atPath: path) { throw BackupError("the catalog \(path) already exists; restore into a new one") }
        case (.postgres, true):
            break  // PostgresTools.restore checks that the database is empty
        }
    }

    /// Where a manifest may put files: under `originals/` or `captions/`, or the two keys — relative,
    /// plain names only. A manifest is data from a directory someone handed over: `../` or an absolute
    /// path must never write outside the new root.
    static func allowedPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.hasPrefix("/"), !parts.isEmpty,
              parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.hasPrefix(".") && !$0.contains("\0") })
        else { return false }
        switch parts[0] {
        case "originals": return parts.count == 3
        case "captions": return parts.count == 3 && parts[2].hasSuffix(".json")
        case "signing.key", "admin.key": return parts.count == 1
        default: return false
        }
    }

    /// Every file the manifest lists is in the backup with its size and SHA-256, at a path it may have.
    func verify(_ manifest: BackupManifest, in backup: URL) throws {
        let catalogNames = ["catalog.sqlite", "catalog.pgdump"]
        guard catalogNames.contains(manifest.catalog.path) else {
            throw BackupError("the manifest names the catalog \(manifest.catalog.path); nothing was restored")
        }
        for path in manifest.files.map(\.path) + manifest.videos.map(\.original) where !Self.allowedPath(path) {
            throw BackupError("the manifest lists \(path), which is not a place in a storage root; nothing was restored")
        }
        let root = backup.appendingPathComponent("root", isDirectory: true)
        let all = [(backup.appendingPathComponent(manifest.catalog.path), manifest.catalog)]
            + manifest.files.map { (root.appendingPathComponent($0.path), $0) }
        for (url, entry) in all {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw BackupError("the backup is incomplete: \(entry.path) is missing; nothing was restored")
            }
            let sha = try FileDigest.sha256(ofFileAt: url.path)
            guard sha == entry.sha256, BackupWriter.size(url) == entry.size else {
                throw BackupError("the backup is damaged: \(entry.path) does not match its checksum in the manifest; nothing was restored")
            }
        }
    }
}
