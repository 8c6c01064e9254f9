import Foundation

/// `manifest.json` of a backup: what it holds and the SHA-256 of every file, so `reel restore` can refuse a
/// damaged backup before it writes anything.
///
///     <backup>/manifest.json
///     <backup>/catalog.sqlite | catalog.pgdump      the catalog, as of one instant
///     <backup>/root/originals/<video>/source.<ext>   every original the catalog names
///     <backup>/root/captions/<video>/<track>.json    caption tracks (uploads cannot be made again)
///     <backup>/root/signing.key                      so playback URLs signed before still verify
///     <backup>/root/admin.key                        the first admin key `reel up` made (0600)
///
/// Outputs (`hls/`) are not in it: `reel restore` queues every video again and the workers rebuild them
/// from the originals.
public struct BackupManifest: Codable, Sendable, Equatable {
    public static let fileName = "manifest.json"
    public static let currentFormat = 1

    public enum CatalogKind: String, Codable, Sendable { case sqlite, postgres }

    public struct File: Codable, Sendable, Equatable {
        /// Relative to the backup's `root/` (and to the storage root it came from).
        public var path: String
        public var size: Int64
        public var sha256: String
    }

    public struct Video: Codable, Sendable, Equatable {
        public var id: String
        public var state: String
        /// The original, relative to the root; its size and SHA-256 are the catalog's (checked on the copy).
        public var original: String
        public var size: Int64
        public var sha256: String
    }

    public var format: Int
    public var createdAt: Date
    public var catalogKind: CatalogKind
    public var catalog: File
    public var videos: [Video]
    /// Every file under `root/`: originals, caption tracks, the signing and admin keys.
    public var files: [File]
    /// Videos the catalog snapshot names whose original could not be copied, and why (deleted while the
    /// backup ran, or not matching its checksum). `reel restore` leaves them out.
    public var skipped: [String: String]

    public var catalogFileName: String { catalogKind == .sqlite ? "catalog.sqlite" : "catalog.pgdump" }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func read(from backup: URL) throws -> BackupManifest {
        let url = backup.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url) else {
            throw BackupError("\(backup.path) is not a Reel backup: it has no \(fileName)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest: BackupManifest
        do { manifest = try decoder.decode(BackupManifest.self, from: data) } catch {
            throw BackupError("\(url.path) cannot be read: \(error)")
        }
        guard manifest.format == currentFormat else {
            throw BackupError("\(url.path) is format \(manifest.format); this Reel reads format \(currentFormat)")
        }
        return manifest
    }
}

/// A sentence for the operator; the CLI prints it and exits 1.
public struct BackupError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
