import Crypto
import Foundation

/// Where things live under the storage root (a local directory, or an NFS mount shared by many hosts).
/// Every path under the root is made here, so that this list is the whole of it:
///
///     <root>/reel.sqlite                      the catalog (SQLite; PostgreSQL when several hosts share the root)
///     <root>/signing.key                      the key that signs playback URLs (0600, made on first use)
///     <root>/admin.key                        the first admin key `reel up` made (0600)
///     <root>/.readyz-<pid>                    written and removed by /readyz, to see the root takes writes
///     <root>/uploads/<upload>/data            the bytes of an upload in progress (its state is in the catalog)
///     <root>/uploads/<upload>/info.json       only from before that: adopted into the catalog at start
///     <root>/originals/<video>/source.<ext>   uploads, kept as they came
///     <root>/hls/<video>/master.m3u8 …        the HLS ladder, written piece by piece
///     <root>/hls/<video>/<rendition>/index.m3u8  each rendition's playlist
///     <root>/hls/<video>/poster.jpg           the poster, when the video has one
///     <root>/hls/<video>/download/<rung>.mp4  the downloads the profile offers (and download/audio.m4a)
///     <root>/hls/<video>/storyboard.vtt       the storyboard's WebVTT index (`#xywh=` cues), when it has one
///     <root>/hls/<video>/storyboard/<n>.jpg   its sprite sheets, named by their first thumbnail's number
///     <root>/hls/<video>/parts/<piece>.json   what each finished piece wrote (to assemble playlists)
///     <root>/hls/<video>/parts/storyboard/<piece>.json  the thumbnails each piece made (to write the index)
///     <root>/hls/<video>/parts/caption-timeline  the segment boundaries captions are cut to
///     <root>/hls/<video>/subs-<track>/        a caption track's WebVTT segments and playlist
///     <root>/captions/<video>/<track>.json    caption tracks (cues), uploaded or extracted
///     <root>/autoscaler/<node>.json           what each node's autoscaler last saw and did (`AutoscalerStatus`)
public struct StorageLayout: Sendable, Equatable {
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }
    public init(path: String) { self.init(root: URL(fileURLWithPath: path)) }

    public var catalogPath: String { root.appendingPathComponent("reel.sqlite").path }
    public var originals: URL { root.appendingPathComponent("originals", isDirectory: true) }
    public var hls: URL { root.appendingPathComponent("hls", isDirectory: true) }

    // MARK: - Keys and probes

    public var signingKeyFile: URL { root.appendingPathComponent("signing.key") }
    public var adminKeyFile: URL { root.appendingPathComponent("admin.key") }
    /// The file `/readyz` writes and removes; one a process, so that servers sharing the root do not race.
    public func readinessProbeFile(pid: Int32 = getpid()) -> URL { root.appendingPathComponent(".readyz-\(pid)") }

    // MARK: - Uploads

    public var uploadsRoot: URL { root.appendingPathComponent("uploads", isDirectory: true) }
    public func uploadDirectory(_ id: String) -> URL { uploadsRoot.appendingPathComponent(id, isDirectory: true) }
    /// Where uploads were described before their state moved into the catalog (read once, to adopt them).
    public func uploadInfoFile(_ id: String) -> URL { uploadDirectory(id).appendingPathComponent("info.json") }
    public func uploadDataFile(_ id: String) -> URL { uploadDirectory(id).appendingPathComponent("data") }

    // MARK: - Videos

    public func originalDirectory(video: String) -> URL { originals.appendingPathComponent(video, isDirectory: true) }
    /// The original as uploaded; `fileExtension` is lower case, without the dot.
    public func originalFile(video: String, fileExtension: String) -> URL {
        originalDirectory(video: video).appendingPathComponent("source.\(fileExtension)")
    }
    public func hlsDirectory(video: String) -> URL { hls.appendingPathComponent(video, isDirectory: true) }
    public func masterPlaylist(video: String) -> URL { hlsDirectory(video: video).appendingPathComponent("master.m3u8") }
    public func renditionPlaylist(video: String, rendition: String) -> URL {
        hlsDirectory(video: video).appendingPathComponent(rendition, isDirectory: true).appendingPathComponent("index.m3u8")
    }
    public func posterFile(video: String) -> URL { hlsDirectory(video: video).appendingPathComponent("poster.jpg") }
    /// The static renditions offered as downloads (`<rung>.mp4`, `audio.m4a`), made after the video is ready.
    public func downloadsDirectory(video: String) -> URL { hlsDirectory(video: video).appendingPathComponent("download", isDirectory: true) }
    public func storyboardIndex(video: String) -> URL { hlsDirectory(video: video).appendingPathComponent("storyboard.vtt") }
    /// Beside the pieces' rendition manifests, in a folder of its own so their reader never meets it.
    public func storyboardManifests(video: String) -> URL {
        partsDirectory(video: video).appendingPathComponent("storyboard", isDirectory: true)
    }
    public func partsDirectory(video: String) -> URL { hlsDirectory(video: video).appendingPathComponent("parts", isDirectory: true) }
    /// What a finished (or, with a `.partial` piece name, a running) piece wrote.
    public func partManifest(video: String, piece: String) -> URL {
        partsDirectory(video: video).appendingPathComponent("\(piece).json")
    }

    // MARK: - Autoscalers

    public var autoscalerDirectory: URL { root.appendingPathComponent("autoscaler", isDirectory: true) }
    /// A dry run publishes beside the live autoscaler of its host, never over it.
    public func autoscalerStatusFile(host: String, dryRun: Bool) -> URL {
        autoscalerDirectory.appendingPathComponent(dryRun ? "\(host)\(Self.dryRunSuffix)" : "\(host).json")
    }
    /// The ending of a dry run's status file, which readers leave out.
    public static let dryRunSuffix = ".dry-run.json"

    // MARK: - Paths in the catalog

    /// A path relative to the root, as stored in the catalog (so the root can be mounted elsewhere).
    public func relative(_ url: URL) -> String {
        let full = url.standardizedFileURL.path
        let base = root.path.hasSuffix("/") ? root.path : root.path + "/"
        return full.hasPrefix(base) ? String(full.dropFirst(base.count)) : full
    }

    public func absolute(_ relative: String) -> URL {
        relative.hasPrefix("/") ? URL(fileURLWithPath: relative) : root.appendingPathComponent(relative)
    }
}

/// Writing one file so that readers see all of it or nothing: temporary name, fsync, rename.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString.prefix(6)).part")
        guard FileManager.default.createFile(atPath: partial.path, contents: data) else {
            throw AtomicDirectory.Failure(path: url.path, reason: "cannot create \(partial.lastPathComponent)")
        }
        do {
            let fd = open(partial.path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
            if rename(partial.path, url.path) != 0 {
                throw AtomicDirectory.Failure(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    /// Copies `source` to `destination` atomically, returning its size and SHA-256.
    public static func copy(_ source: URL, to destination: URL) throws -> (size: Int64, sha256: String) {
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(getpid()).part")
        let input = open(source.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw AtomicDirectory.Failure(path: source.path, reason: String(cString: strerror(errno))) }
        defer { close(input) }
        var output = open(partial.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw AtomicDirectory.Failure(path: partial.path, reason: String(cString: strerror(errno))) }
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = read(input, buffer.baseAddress, buffer.count)
                if n < 0 { if errno == EINTR { continue }; throw AtomicDirectory.Failure(path: source.path, reason: String(cString: strerror(errno))) }
                if n == 0 { break }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                var written = 0
                while written < n {
                    let w = Glibc.write(output, buffer.baseAddress! + written, n - written)
                    if w < 0 { if errno == EINTR { continue }; throw AtomicDirectory.Failure(path: destination.path, reason: String(cString: strerror(errno))) }
                    written += w
                }
                size += Int64(n)
            }
            if fsync(output) != 0 { throw AtomicDirectory.Failure(path: destination.path, reason: String(cString: strerror(errno))) }
            close(output)
            output = -1
            if rename(partial.path, destination.path) != 0 {
                throw AtomicDirectory.Failure(path: destination.path, reason: String(cString: strerror(errno)))
            }
        } catch {
            if output >= 0 { close(output) }
            unlink(partial.path)
            throw error
        }
        return (size, FileDigest.hex(hasher.finalize()))
    }
}

extension StorageLayout {
    /// `<root>/captions/<video>/<track>.json`: caption tracks as uploaded or extracted (cues and what the
    /// API lists); deleted with the video.
    public func captionsDirectory(video: String) -> URL {
        root.appendingPathComponent("captions", isDirectory: true).appendingPathComponent(video, isDirectory: true)
    }
    /// `<root>/hls/<video>/parts/caption-timeline`: the segment boundaries and timestamp offset captions are
    /// cut to, written when the video is finalized (not `.json`: that ending is for piece manifests).
    public func captionTimeline(video: String) -> URL {
        partsDirectory(video: video).appendingPathComponent("caption-timeline")
    }
}
