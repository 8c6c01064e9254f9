import Catalog
import Foundation
import Storage

/// `reel backup DEST`: a consistent backup while uploads and workers go on.
///
/// The catalog is copied first, as of one instant (SQLite's online backup API, or `pg_dump`, which reads
/// one snapshot). Then the originals of the videos that snapshot names are copied — originals never
/// change once their video exists, so copying them afterwards gives the same bytes — each hashed on the
/// way and checked against the catalog's SHA-256. Caption tracks, the signing key and `reel up`'s admin key follow. Everything
/// is written into `DEST.partial-<pid>` and renamed to DEST at the end: a backup is whole or absent.
public struct BackupWriter: Sendable {
    public let layout: StorageLayout
    public let catalogURL: String

    public init(layout: StorageLayout, catalogURL: String) {
        self.layout = layout
        self.catalogURL = catalogURL
    }

    public func write(to destination: URL, catalog: any Catalog) async throws -> BackupManifest {
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) {
            throw BackupError("\(destination.path) already exists; a backup goes to a new directory")
        }
        let staging = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())", isDirectory: true)
        try? fm.removeItem(at: staging)
        // 0700: a backup holds the catalog (key hashes, everything) and the signing key.
        try fm.createDirectory(at: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let manifest = try await fill(staging, catalog: catalog)
            try AtomicFile.write(try BackupManifest.encoder().encode(manifest),
                                 to: staging.appendingPathComponent(BackupManifest.fileName))
            if rename(staging.path, destination.path) != 0 {
                throw BackupError("cannot move the backup into \(destination.path): \(String(cString: strerror(errno)))")
            }
            return manifest
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    private func fill(_ staging: URL, catalog: any Catalog) async throws -> BackupManifest {
        let kind: BackupManifest.CatalogKind = PostgresURL.isPostgres(catalogURL) ? .postgres : .sqlite
        let catalogFile = staging.appendingPathComponent(kind == .sqlite ? "catalog.sqlite" : "catalog.pgdump")
        let videos: [VideoRecord]
        switch kind {
        case .sqlite:
            guard let sqlite = catalog as? SQLiteCatalog else { throw BackupError("the catalog is not SQLite") }
            // The videos of the snapshot itself, read in the same transaction as the copy.
            videos = try await sqlite.snapshot(to: catalogFile.path)
        case .postgres:
            try PostgresTools.dump(try PostgresURL(catalogURL), to: catalogFile)
            // pg_dump read one snapshot; the live catalog now has those videos (less any deleted since,
            // which are skipped below, plus newer ones, whose originals are copied for nothing).
            videos = try await Self.allVideos(catalog)
        }
        let catalogEntry = BackupManifest.File(
            path: catalogFile.lastPathComponent, size: Self.size(catalogFile),
            sha256: try FileDigest.sha256(ofFileAt: catalogFile.path))

        let root = staging.appendingPathComponent("root", isDirectory: true)
        var files: [BackupManifest.File] = []
        var entries: [BackupManifest.Video] = []
        var skipped: [String: String] = [:]
        for video in videos {
            let source = layout.absolute(video.originalPath)
            guard FileManager.default.fileExists(atPath: source.path) else {
                skipped[video.id] = "its original \(video.originalPath) is gone (the video was deleted while the backup ran?)"
                continue
            }
            let copied = try AtomicFile.copy(source, to: root.appendingPathComponent(video.originalPath))
            // Videos from before checksums were recorded have none to compare with: the copy's is kept.
            guard video.sha256 == nil || copied.sha256 == video.sha256 else {
                try? FileManager.default.removeItem(at: root.appendingPathComponent(video.originalPath))
                skipped[video.id] = "its original \(video.originalPath) does not match the catalog's SHA-256 (corrupt on disk)"
                continue
            }
            files.append(.init(path: video.originalPath, size: copied.size, sha256: copied.sha256))
            entries.append(.init(id: video.id, state: video.state.rawValue, original: video.originalPath,
                                 size: video.sizeBytes, sha256: video.sha256 ?? copied.sha256))
        }
        // Caption tracks of the videos kept, and the secrets (0600, as on the root).
        let kept = Set(entries.map(\.id))
        var extras: [URL] = []
        for id in kept.sorted() {
            let dir = layout.captionsDirectory(video: id)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            extras += names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
        }
        let secrets = [layout.signingKeyFile, layout.adminKeyFile]
        extras += secrets.filter { FileManager.default.fileExists(atPath: $0.path) }
        for file in extras {
            let relative = layout.relative(file)
            let copied = try AtomicFile.copy(file, to: root.appendingPathComponent(relative))
            files.append(.init(path: relative, size: copied.size, sha256: copied.sha256))
        }
        for secret in secrets { chmod(root.appendingPathComponent(layout.relative(secret)).path, 0o600) }
        return BackupManifest(format: BackupManifest.currentFormat, createdAt: Date(), catalogKind: kind,
                              catalog: catalogEntry, videos: entries, files: files, skipped: skipped)
    }

    /// One query: pages by offset could skip a video while others are deleted.
    static func allVideos(_ catalog: any Catalog) async throws -> [VideoRecord] {
        try await catalog.videos(state: nil, audience: .everyone, limit: Int(Int32.max), offset: 0)
    }

    static func size(_ url: URL) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.int64Value ?? 0
    }
}
