import Catalog
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Storage
import Synchronization

/// Uploads on the storage root: `uploads/<id>/info.json` and `uploads/<id>/data`. Bodies stream to disk
/// in 1 MiB writes, so memory stays flat whatever the file size; the whole-file SHA-256 is computed on
/// the way in. A video is registered only when the last byte is on disk (and fsynced).
final class UploadStore: Sendable {
    let layout: StorageLayout
    let catalog: any Catalog
    let maxUploadBytes: Int64
    let expiry: TimeInterval
    let lifetime: TimeInterval
    let minFreeBytes: Int64
    let maxOpenUploadsPerKey: Int
    let maxBytesInFlightPerKey: Int64
    let maxStoredBytesPerKey: Int64
    let metrics: ServerMetrics
    let logger: Logger

    /// Uploads with a request writing to them (in this process; `flock` covers other processes and hosts).
    private let busy = Mutex<Set<String>>([])
    /// Running whole-file hashes, valid for the stated offset (lost on restart: then the file is re-read).
    private let hashes = Mutex<[String: (offset: Int64, hash: Crypto.SHA256)]>([:])

    init(layout: StorageLayout, catalog: any Catalog, settings: ServerSettings, metrics: ServerMetrics, logger: Logger) {
        self.layout = layout
        self.catalog = catalog
        self.maxUploadBytes = settings.maxUploadBytes
        self.expiry = settings.uploadExpiry
        self.lifetime = settings.uploadLifetime
        self.minFreeBytes = settings.minFreeBytes
        self.maxOpenUploadsPerKey = settings.maxOpenUploadsPerKey
        self.maxBytesInFlightPerKey = settings.maxBytesInFlightPerKey
        self.maxStoredBytesPerKey = settings.maxStoredBytesPerKey
        self.metrics = metrics
        self.logger = logger
    }

    var root: URL { layout.root.appendingPathComponent("uploads", isDirectory: true) }
    func directory(_ id: String) -> URL { root.appendingPathComponent(id, isDirectory: true) }
    private func infoURL(_ id: String) -> URL { directory(id).appendingPathComponent("info.json") }
    private func dataPath(_ id: String) -> String { directory(id).appendingPathComponent("data").path }

    // MARK: - Creating and reading

    /// Checks the owner's quotas and the free space (less what unfinished uploads were promised) and
    /// creates the upload, holding `<root>/.uploads.lock` so that two creations, in this process or
    /// another sharing the storage root, cannot both be promised the same bytes.
    /// `lengthKnown: false` (a chunked plain upload) promises nothing up front: free space is then
    /// checked while the body streams in.
    func create(length: Int64, filename: String?, title: String?, visibility: Visibility, owner: String?,
                lengthKnown: Bool = true) async throws -> UploadInfo {
        guard length >= 0 else { throw UploadError.negativeLength }
        guard length <= maxUploadBytes else {
            throw UploadError.tooLarge(length: length, limit: maxUploadBytes)
        }
        if lengthKnown, owner != nil, length > maxBytesInFlightPerKey {
            throw UploadError.quotaExceeded(.uploadLargerThanInFlight(length: length, limit: maxBytesInFlightPerKey))
        }
        // Videos only change this when an upload finishes (its bytes move from in flight to stored), so
        // reading it outside the creation lock cannot let a key pass its quota by more than one upload.
        var stored: Int64 = 0
        if let owner { stored = try await catalog.storedBytes(ownerKeyId: owner) }
        return try await NIOThreadPool.singleton.runIfActive { [self, stored] in
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let lock = open(layout.root.appendingPathComponent(".uploads.lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard lock >= 0 else { throw UploadError.storageFailure("Cannot open .uploads.lock on the storage root.") }
            defer { close(lock) }
            while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
            let ledger = Ledger(of: unfinished(now: Date()))
            if let owner { try checkQuotas(owner: owner, length: lengthKnown ? length : 0, stored: stored, ledger: ledger) }
            if lengthKnown { try checkSpace(for: length, promised: ledger.promised) }
            let now = Date()
            let info = UploadInfo(id: UUID().uuidString.lowercased(), length: length, filename: UploadInfo.cleanFilename(filename),
                                  title: title, visibility: visibility, createdAt: now, expiresAt: now.addingTimeInterval(min(expiry, lifetime)),
                                  ownerKeyId: owner, videoId: nil, deferredLength: lengthKnown ? nil : true)
            try FileManager.default.createDirectory(at: directory(info.id), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: dataPath(info.id), contents: nil) else {
                throw UploadError.storageFailure("Cannot create the upload's file on the storage root.")
            }
            try save(info)
            return info
        }
    }

    private func checkQuotas(owner: String, length: Int64, stored: Int64, ledger: Ledger) throws {
        let mine = ledger.byOwner[owner] ?? (0, 0)
        if mine.open >= maxOpenUploadsPerKey {
            throw UploadError.quotaExceeded(.openUploads(open: mine.open))
        }
        if mine.bytes + length > maxBytesInFlightPerKey {
            throw UploadError.quotaExceeded(.bytesInFlight(inFlight: mine.bytes, length: length, limit: maxBytesInFlightPerKey))
        }
        if stored + mine.bytes + length > maxStoredBytesPerKey {
            throw UploadError.quotaExceeded(.bytesStored(stored: stored, inFlight: mine.bytes, length: length, limit: maxStoredBytesPerKey))
        }
    }

    /// What unfinished uploads hold and were promised, read from their `info.json` files (not memory),
    /// so that a restarted process or another host on the same storage root counts them too.
    struct Ledger {
        /// Bytes still to come: free space that is already spoken for.
        var promised: Int64 = 0
        /// Per owning key: open uploads, and their lengths (received or not).
        var byOwner: [String: (open: Int, bytes: Int64)] = [:]

        init(of uploads: [(info: UploadInfo, offset: Int64)]) {
            for (info, offset) in uploads {
                let deferred = info.deferredLength == true
                if !deferred { promised += max(0, info.length - offset) }
                guard let owner = info.ownerKeyId else { continue }
                var entry = byOwner[owner] ?? (0, 0)
                entry.open += 1
                entry.bytes += deferred ? offset : info.length
                byOwner[owner] = entry
            }
        }
    }

    /// Unfinished, unexpired uploads on the storage root, with their offsets.
    func unfinished(now: Date) -> [(info: UploadInfo, offset: Int64)] {
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return ids.compactMap { id in
            guard !id.hasPrefix("."), let data = FileManager.default.contents(atPath: infoURL(id).path),
                  let info = try? JSONDecoder.upload.decode(UploadInfo.self, from: data),
                  info.videoId == nil, deadline(info) >= now
            else { return nil }
            return (info, offset(info))
        }
    }

    /// When an unfinished upload expires: its last byte plus `expiry`, but never later than `lifetime`
    /// after its creation (trickling bytes cannot keep it, and its promised space, forever).
    func deadline(_ info: UploadInfo) -> Date {
        min(info.expiresAt, info.createdAt.addingTimeInterval(lifetime))
    }

    private func extendedExpiry(_ info: UploadInfo) -> Date {
        min(Date().addingTimeInterval(expiry), info.createdAt.addingTimeInterval(lifetime))
    }

    /// 404 for an unknown id, 410 once expired (until the sweeper removes it).
    func info(_ id: String) throws -> UploadInfo {
        guard MediaPath.isPlainName(id), let data = FileManager.default.contents(atPath: infoURL(id).path),
              let info = try? JSONDecoder.upload.decode(UploadInfo.self, from: data)
        else { throw UploadError.notFound(id: id) }
        if info.videoId == nil && deadline(info) < Date() {
            throw UploadError.expired
        }
        return info
    }

    func offset(_ info: UploadInfo) -> Int64 {
        if info.videoId != nil { return info.length }
        var st = stat()
        if stat(dataPath(info.id), &st) == 0 { return Int64(st.st_size) }
        // No data file: the bytes are (being) moved into originals/ by `finish`, so every byte arrived.
        return FileManager.default.fileExists(atPath: originalURL(info).path) ? info.length : 0
    }

    /// An upload whose process stopped between the steps of `finish` (data moved into `originals/`, video
    /// maybe registered) is brought back to a consistent state: registered → remember the video; not
    /// registered → move the bytes back, so the upload is complete-but-unregistered and `settle` finishes it.
    /// The caller holds the upload's busy slot, the lock `finish` runs under in this process; `finish`
    /// also holds `flock` on the bytes, which moves with them into `originals/`, so a `finish` running in
    /// another process is seen too: then nil (leave it alone, it is being finished).
    private func reconcile(_ info: UploadInfo) async throws -> UploadInfo? {
        guard info.videoId == nil, !FileManager.default.fileExists(atPath: dataPath(info.id)) else { return info }
        let original = originalURL(info).path
        let fd = open(original, O_RDONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        if fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 { return nil }
        var info = info
        if try await catalog.video(id: info.id) != nil {
            info.videoId = info.id
            try save(info)
        } else if fd >= 0 {
            _ = rename(original, dataPath(info.id))
        }
        return info
    }

    /// HEAD and GET call this: an upload whose bytes all arrived but whose registration failed (or was
    /// interrupted) is registered now, so the client that already sent everything still gets its video.
    /// A request writing to the upload (here or in another process) is left to finish it.
    func settle(_ id: String) async throws -> UploadInfo {
        let info = try self.info(id)
        guard info.videoId == nil, busy.withLock({ $0.insert(id).inserted }) else { return info }
        defer { _ = busy.withLock { $0.remove(id) } }
        guard var settled = try await reconcile(info) else { return info }
        guard settled.videoId == nil, offset(settled) == settled.length else { return settled }
        let fd = open(dataPath(id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return settled }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return settled }
        _ = try await finish(info: &settled, hash: nil, expectedSHA256: nil)
        return settled
    }

    private func originalURL(_ info: UploadInfo) -> URL {
        layout.originalDirectory(video: info.id).appendingPathComponent("source.\(Self.fileExtension(info.filename))")
    }

    private func save(_ info: UploadInfo) throws {
        try AtomicFile.write(try JSONEncoder.upload.encode(info), to: infoURL(info.id))
    }

    private func checkSpace(for bytes: Int64, promised: Int64 = 0) throws {
        guard let free = DiskSpace.available(at: layout.root.path) else { return }
        if free - promised - bytes < minFreeBytes {
            throw UploadError.insufficientStorage(free: free, promised: promised, needed: bytes, reserve: minFreeBytes)
        }
    }

    // MARK: - Writing

    enum Checksum {
        case sha1(Data)
        case sha256(Data)
    }

    struct Appended {
        var offset: Int64
        var video: VideoRecord?
    }

    /// Appends a request body at `offset` (tus PATCH, or the whole body of a plain upload). With a
    /// checksum the chunk is all or nothing; without one, whatever arrived before a dropped connection
    /// stays, so the client can resume from there.
    /// `accepted` runs once every check passed, just before the body is read (it answers `Expect: 100-continue`).
    func append(id: String, at expected: Int64, body: RequestBody, checksum: Checksum?, wholeFileSHA256: String? = nil,
                deferredLength: Bool = false, declared: Int64? = nil,
                accepted: @Sendable () -> Void = {}) async throws -> Appended {
        guard busy.withLock({ $0.insert(id).inserted }) else { throw UploadError.locked(.anotherWriter) }
        defer { _ = busy.withLock { $0.remove(id) } }

        guard var info = try await reconcile(try info(id)) else {
            throw UploadError.locked(.anotherFinisher)
        }
        if info.videoId != nil {
            guard expected == info.length else {
                throw UploadError.alreadyComplete(expected: expected, length: info.length)
            }
            return Appended(offset: info.length, video: try await catalog.video(id: info.videoId!))
        }
        let fd = open(dataPath(id), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UploadError.notFound(id: id) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw UploadError.locked(.anotherWriter) }
        var st = stat()
        fstat(fd, &st)
        let start = Int64(st.st_size)
        guard start == expected else {
            throw UploadError.offsetMismatch(expected: expected, actual: start)
        }
        // A body declared longer than what is left would be cut short: refuse it before 100 Continue.
        if !deferredLength, let declared, declared > info.length - start { throw UploadError.pastLength(info.length) }
        lseek(fd, off_t(start), SEEK_SET)
        // A body of unknown length promised nothing when it was created: it is held to the free space
        // (less what other uploads were promised) and to its key's quotas as it arrives.
        var stored: Int64 = 0
        if deferredLength, let owner = info.ownerKeyId { stored = try await catalog.storedBytes(ownerKeyId: owner) }
        let owner = info.ownerKeyId
        let runningCheck: @Sendable () throws -> Void = { [self, stored] in
            guard deferredLength else { return try checkSpace(for: 0) }
            let ledger = Ledger(of: unfinished(now: Date()))
            try checkSpace(for: 0, promised: ledger.promised)
            guard let owner else { return }
            let mine = ledger.byOwner[owner] ?? (0, 0)
            if mine.bytes > maxBytesInFlightPerKey {
                throw UploadError.quotaExceeded(.bytesInFlight(inFlight: mine.bytes, length: 0, limit: maxBytesInFlightPerKey))
            }
            if stored + mine.bytes > maxStoredBytesPerKey {
                throw UploadError.quotaExceeded(.bytesStored(stored: stored, inFlight: mine.bytes, length: 0, limit: maxStoredBytesPerKey))
            }
        }
        accepted()

        var writer = ChunkWriter(fd: fd, offset: start, limit: info.length,
                                 hash: hashes.withLock { $0[id] }.flatMap { $0.offset == start ? $0.hash : nil }
                                    ?? (start == 0 ? Crypto.SHA256() : nil),
                                 checksum: checksum,
                                 overLimit: deferredLength ? .bodyTooLarge(limit: maxUploadBytes) : .pastLength(info.length),
                                 spaceCheckInterval: deferredLength ? 4 << 20 : 64 << 20, spaceCheck: runningCheck)
        let end = info.createdAt.addingTimeInterval(lifetime)
        do {
            for try await buffer in body {
                // The lifetime ends the upload even while a request is still trickling into it.
                guard Date() < end else {
                    throw UploadError.lifetimeReached(seconds: Int(lifetime))
                }
                try await writer.add(buffer)
            }
            try await writer.flush()
            // The last stretch of a body of unknown length is checked too, however short.
            if deferredLength { try runningCheck() }
        } catch {
            let refusal = error as? UploadError
            // What arrived stays (the client resumes from there) when the connection dropped or the disk
            // filled up; a checksummed chunk, or a body that broke the rules, is all or nothing.
            let keep = checksum == nil && (refusal?.keepsReceivedBytes ?? true)
            if keep {
                if refusal == nil { try? await writer.flush() }
                ftruncate(fd, off_t(writer.durable))  // drops a half-done write, if any
                remember(id: id, writer: writer)
                await fsyncOffPool(fd)
                info.expiresAt = extendedExpiry(info)
                try? save(info)
            } else {
                ftruncate(fd, off_t(start))
            }
            metrics.recordUpload(bytes: keep ? Int(max(0, writer.durable - start)) : 0)
            if let refusal { throw refusal }
            // Not a server failure: logged quietly, and the client (if still there) learns where to resume.
            throw UploadError.bodyEndedEarly(reason: "\(error)", stored: writer.durable)
        }
        if !writer.checksumMatches {
            ftruncate(fd, off_t(start))
            throw UploadError.checksumMismatch
        }
        await fsyncOffPool(fd)
        metrics.recordUpload(bytes: Int(writer.durable - start))
        if deferredLength { info.length = writer.durable }
        info.expiresAt = extendedExpiry(info)
        guard writer.durable == info.length else {
            remember(id: id, writer: writer)
            try save(info)
            return Appended(offset: writer.durable, video: nil)
        }
        let video = try await finish(info: &info, hash: writer.hash, expectedSHA256: wholeFileSHA256)
        return Appended(offset: info.length, video: video)
    }

    private func remember(id: String, writer: ChunkWriter) {
        hashes.withLock { $0[id] = writer.hash.map { (writer.durable, $0) } }
    }

    private func fsyncOffPool(_ fd: Int32) async {
        _ = try? await NIOThreadPool.singleton.runIfActive { fsync(fd) }
    }

    // MARK: - Finishing

    /// The last byte is on disk: hash (if the running hash was lost), move the data into `originals/`
    /// and register the video with its plan job in one catalog transaction.
    private func finish(info: inout UploadInfo, hash: Crypto.SHA256?, expectedSHA256: String?) async throws -> VideoRecord {
        let id = info.id
        hashes.withLock { $0[id] = nil }
        if let registered = try await catalog.video(id: id) {
            // Registered by an earlier attempt that stopped before it could note it here.
            info.videoId = id
            try? save(info)
            return registered
        }
        let sha256: String
        if let hash {
            sha256 = hash.finalize().hex
        } else {
            let path = dataPath(id)
            sha256 = try await NIOThreadPool.singleton.runIfActive { try Self.hashFile(path) }
        }
        if let expectedSHA256, expectedSHA256.lowercased() != sha256 {
            try? FileManager.default.removeItem(at: directory(id))
            throw UploadError.sha256Mismatch(actual: sha256, given: expectedSHA256.lowercased())
        }
        let destination = originalURL(info)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard rename(dataPath(id), destination.path) == 0 else {
            throw UploadError.storageFailure("Cannot move the upload into originals/: \(String(cString: strerror(errno))).")
        }
        let title = info.title.flatMap { $0.isEmpty ? nil : $0 }
            ?? info.filename.map { ($0 as NSString).deletingPathExtension } ?? "Untitled"
        let video: VideoRecord
        do {
            video = try await catalog.createVideo(
                NewVideo(id: id, title: title, originalPath: layout.relative(destination), sizeBytes: info.length,
                         sha256: sha256, visibility: info.visibility, filename: info.filename,
                         ownerKeyId: info.ownerKeyId),
                jobs: [NewJob(kind: .plan, priority: Ingest.planPriority, maxAttempts: 3)])
        } catch {
            rename(destination.path, dataPath(id))  // give the bytes back to the upload, so a retry can finish it
            throw error
        }
        info.videoId = id
        try? save(info)
        logger.info("upload complete", metadata: ["video": "\(id)", "bytes": "\(info.length)", "sha256": "\(sha256)"])
        return video
    }

    static func fileExtension(_ filename: String?) -> String {
        let ext = (filename.map { ($0 as NSString).pathExtension } ?? "").lowercased()
        let plain = !ext.isEmpty && ext.count <= 8 && ext.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) }
        return plain ? ext : "bin"
    }

    private static func hashFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UploadError.storageFailure("Cannot read the upload back to hash it.") }
        defer { close(fd) }
        var hash = Crypto.SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                throw UploadError.storageFailure("Reading the upload back to hash it failed: \(String(cString: strerror(errno))).")
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
        return hash.finalize().hex
    }

    // MARK: - Removing

    func delete(_ id: String) throws {
        guard busy.withLock({ !$0.contains(id) }) else { throw UploadError.locked(.writer) }
        _ = try info(id)
        // Another process or host may be writing to it.
        guard !lockedElsewhere(id) else { throw UploadError.locked(.writer) }
        hashes.withLock { $0[id] = nil }
        try FileManager.default.removeItem(at: directory(id))
    }

    /// Whether another open file description holds the upload's write lock (`flock`).
    private func lockedElsewhere(_ id: String) -> Bool {
        let fd = open(dataPath(id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return true }
        flock(fd, LOCK_UN)
        return false
    }

    /// Removes unfinished uploads past their expiry, and the bookkeeping of finished ones a day later.
    func sweep(now: Date = Date()) -> Int {
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return 0 }
        var removed = 0
        for id in ids where !id.hasPrefix(".") && busy.withLock({ !$0.contains(id) }) {
            let info = FileManager.default.contents(atPath: infoURL(id).path)
                .flatMap { try? JSONDecoder.upload.decode(UploadInfo.self, from: $0) }
            let deadline = info.map { $0.videoId == nil ? self.deadline($0) : $0.expiresAt.addingTimeInterval(expiry) }
                ?? modification(of: directory(id)).addingTimeInterval(expiry)  // no readable info: judge by age
            guard deadline < now, !lockedElsewhere(id) else { continue }
            hashes.withLock { $0[id] = nil }
            if (try? FileManager.default.removeItem(at: directory(id))) != nil {
                removed += 1
                logger.info("expired upload removed", metadata: ["upload": "\(id)", "finished": "\(info?.videoId != nil)"])
            }
        }
        return removed
    }

    private func modification(of url: URL) -> Date {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? Date()
    }
}

extension JSONEncoder {
    static var upload: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    static var upload: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension Digest {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
