import Catalog
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Storage
import Synchronization

/// Uploads: their bytes in `uploads/<id>/data` on the storage root, their state (offset, expiry, owner,
/// write lock) in the catalog, so that the requests of one upload may reach any host of a fleet. Bodies
/// stream to disk in 1 MiB writes, so memory stays flat whatever the file size; the whole-file SHA-256 is
/// computed on the way in. A video is registered only when the last byte is on disk (and fsynced), in the
/// same catalog transaction that marks the upload finished.
///
/// One writer at a time per upload: `busy` in this process, the catalog's upload lock across processes
/// and hosts (a lease: `lockDuration`, renewed while a body streams in, so a host that dies mid-request
/// frees the upload after it expires). `flock` is not used: it does not reach across NFS clients reliably.
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

    /// Uploads with a request writing to them in this process (the catalog's lock covers other processes).
    private let busy = Mutex<Set<String>>([])
    /// This process, as the holder of upload locks.
    let holder: String
    /// How long an upload's write lock lasts without renewal, and how often a writer renews it.
    let lockDuration: TimeInterval
    let lockRenewal: TimeInterval
    /// Running whole-file hashes, valid for the stated offset (lost on restart: then the file is re-read).
    private let hashes = Mutex<[String: (offset: Int64, hash: Crypto.SHA256)]>([:])

    init(layout: StorageLayout, catalog: any Catalog, settings: ServerSettings, metrics: ServerMetrics, logger: Logger,
         lockDuration: TimeInterval = 20, lockRenewal: TimeInterval = 5) {
        self.layout = layout
        self.lockDuration = lockDuration
        self.lockRenewal = lockRenewal
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
        self.holder = "\(NodeName.current):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }

    var root: URL { layout.uploadsRoot }
    func directory(_ id: String) -> URL { layout.uploadDirectory(id) }
    private func dataPath(_ id: String) -> String { layout.uploadDataFile(id).path }

    // MARK: - Creating and reading

    /// Checks the owner's quotas and the free space (less what unfinished uploads were promised) and
    /// creates the upload. The check runs under the catalog's uploads lock, so that two creations, on
    /// this host or another sharing the catalog, cannot both be promised the same bytes.
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
        // reading it outside the uploads lock cannot let a key pass its quota by more than one upload.
        var stored: Int64 = 0
        if let owner { stored = try await catalog.storedBytes(ownerKeyId: owner) }
        let now = Date()
        let info = UploadInfo(id: UUID().uuidString.lowercased(), length: length, deferredLength: !lengthKnown,
                              filename: UploadInfo.cleanFilename(filename), title: Ingest.cleanTitle(title), visibility: visibility,
                              ownerKeyId: owner, createdAt: now, expiresAt: now.addingTimeInterval(min(expiry, lifetime)))
        let path = dataPath(info.id), folder = directory(info.id)
        try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw UploadError.storageFailure("Cannot create the upload's file on the storage root.")
            }
        }
        do {
            try await catalog.createUpload(info, now: now, createdAfter: now.addingTimeInterval(-lifetime)) { [self, stored] ledger in
                if let owner { try checkQuotas(owner: owner, length: lengthKnown ? length : 0, stored: stored, ledger: ledger) }
                if lengthKnown { try checkSpace(for: length, promised: ledger.promised) }
            }
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        // Read back: the catalog keeps dates at its own precision, and deadlines are computed from those.
        return try await catalog.upload(id: info.id) ?? info
    }

    private func checkQuotas(owner: String, length: Int64, stored: Int64, ledger: UploadLedger) throws {
        let mine = ledger.usage(of: owner)
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

    /// What unfinished uploads hold and were promised, from the catalog (so other hosts' count too).
    func ledger(now: Date = Date()) async throws -> UploadLedger {
        try await catalog.uploadLedger(now: now, createdAfter: now.addingTimeInterval(-lifetime))
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
    func info(_ id: String) async throws -> UploadInfo {
        guard MediaPath.isPlainName(id), let info = try await catalog.upload(id: id) else { throw UploadError.notFound(id: id) }
        if info.videoId == nil && deadline(info) < Date() {
            throw UploadError.expired
        }
        return info
    }

    func offset(_ info: UploadInfo) -> Int64 {
        info.videoId != nil ? info.length : info.offset
    }

    // MARK: - The write lock

    /// Takes the upload's write lock, in this process and in the catalog; `locked` when another request
    /// (here or on another host) holds it. Every path that took it calls `release`.
    private func acquire(_ id: String, refusal: UploadError) async throws -> UploadInfo {
        guard busy.withLock({ $0.insert(id).inserted }) else { throw refusal }
        do {
            let now = Date()
            guard let info = try await catalog.lockUpload(id: id, holder: holder, until: now.addingTimeInterval(lockDuration), now: now)
            else { throw refusal }
            return try await reconcile(info)
        } catch {
            _ = busy.withLock { $0.remove(id) }
            throw error
        }
    }

    /// Gives the lock back, recording `progress` if any (else the offset as it is).
    private func release(_ info: UploadInfo, progress: UploadProgress? = nil) async {
        defer { _ = busy.withLock { $0.remove(info.id) } }
        let progress = progress ?? UploadProgress(offset: info.offset, expiresAt: info.expiresAt, lockUntil: nil)
        do {
            try await catalog.updateUpload(id: info.id, holder: holder, progress)
        } catch CatalogError.notFound {
            // Removed while held (a whole-file checksum that did not match): nothing left to release.
        } catch {
            // The lease then simply runs out; nothing was recorded that the file does not hold.
            logger.warning("upload lock not released", metadata: ["upload": "\(info.id)", "error": "\(error)"])
        }
    }

    /// Under the lock, makes the file agree with the catalog. A writer that died mid-body (this host or
    /// another) may have left bytes past the recorded offset: they are cut off, and the client resends
    /// them. A finish that stopped between moving the bytes into `originals/` and registering the video
    /// (which happen in one transaction with marking the upload done) gets its bytes back.
    private func reconcile(_ info: UploadInfo) async throws -> UploadInfo {
        guard info.videoId == nil else { return info }
        let data = dataPath(info.id), original = originalURL(info).path
        let recorded = info.offset
        var info = info
        let size: Int64? = try await NIOThreadPool.singleton.runIfActive {
            var st = stat()
            if stat(data, &st) != 0, rename(original, data) != 0 { return nil }
            guard stat(data, &st) == 0 else { return nil }
            if Int64(st.st_size) > recorded { _ = truncate(data, off_t(recorded)) }
            return min(Int64(st.st_size), recorded)
        }
        guard let size else { throw UploadError.storageFailure("The upload's bytes are missing from the storage root.") }
        if size < info.offset {
            // Fewer bytes than recorded (a storage root restored from an older copy): resume from what is there.
            logger.warning("upload shorter than recorded", metadata: ["upload": "\(info.id)", "recorded": "\(info.offset)", "found": "\(size)"])
            info.offset = size
        }
        return info
    }

    /// HEAD and GET call this: an upload whose bytes all arrived but whose registration failed (or was
    /// interrupted) is registered now, so the client that already sent everything still gets its video.
    /// A request writing to the upload (here or on another host) is left to finish it.
    func settle(_ id: String) async throws -> UploadInfo {
        let info = try await self.info(id)
        guard info.videoId == nil, info.offset == info.length else { return info }
        guard var held = try? await acquire(id, refusal: .locked(.anotherFinisher)) else { return info }
        guard held.offset == held.length else {
            await release(held)
            return held
        }
        do {
            _ = try await finish(info: &held, hash: nil, expectedSHA256: nil)
        } catch {
            await release(held)
            throw error
        }
        return held
    }

    private func originalURL(_ info: UploadInfo) -> URL {
        Ingest.originalFile(id: info.id, filename: info.filename, layout: layout)
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
        _ = try await info(id)  // 404 and 410 before anything is locked
        var info = try await acquire(id, refusal: .locked(.anotherWriter))
        if info.videoId != nil {
            await release(info)
            guard expected == info.length else {
                throw UploadError.alreadyComplete(expected: expected, length: info.length)
            }
            return Appended(offset: info.length, video: try await catalog.video(id: info.videoId!))
        }
        let fd = open(dataPath(id), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            await release(info)
            throw UploadError.storageFailure("Cannot open the upload's file on the storage root.")
        }
        defer { close(fd) }
        do {
            let video = try await write(&info, fd: fd, at: expected, body: body, checksum: checksum,
                                        wholeFileSHA256: wholeFileSHA256, deferredLength: deferredLength,
                                        declared: declared, accepted: accepted)
            if video == nil { await release(info, progress: progress(info, lockUntil: nil)) }
            else { _ = busy.withLock { $0.remove(id) } }  // finishing released the catalog's lock
            return Appended(offset: video == nil ? info.offset : info.length, video: video)
        } catch UploadError.locked(let reason) {
            // The lease was lost mid-body (this host stalled past it): another writer may own the file now.
            _ = busy.withLock { $0.remove(id) }
            throw UploadError.locked(reason)
        } catch {
            await release(info, progress: progress(info, lockUntil: nil))
            throw error
        }
    }

    private func progress(_ info: UploadInfo, lockUntil: Date?) -> UploadProgress {
        UploadProgress(offset: info.offset, length: info.deferredLength ? info.length : nil,
                       expiresAt: info.expiresAt, lockUntil: lockUntil)
    }

    /// The body of `append`, holding the lock. `info.offset` is what is durable when it returns or throws.
    private func write(_ info: inout UploadInfo, fd: Int32, at expected: Int64, body: RequestBody, checksum: Checksum?,
                       wholeFileSHA256: String?, deferredLength: Bool, declared: Int64?,
                       accepted: @Sendable () -> Void) async throws -> VideoRecord? {
        let id = info.id
        let start = info.offset
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
        let ledgerCheck: @Sendable (UploadLedger) throws -> Void = { [self, stored] ledger in
            try checkSpace(for: 0, promised: ledger.promised)
            guard let owner else { return }
            let mine = ledger.usage(of: owner)
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
                                 spaceCheckInterval: deferredLength ? 4 << 20 : 64 << 20,
                                 spaceCheck: { [self] in try checkSpace(for: 0) })
        let end = info.createdAt.addingTimeInterval(lifetime)
        let expiresAt = info.expiresAt
        var renewed = Date()
        var recorded = start
        var checkedAt: Int64 = start
        // After a pause (a stalled body, a stalled host) the lock may have expired and gone to another writer,
        // who cut the file back and wrote its own bytes: before touching the file again, this writer renews
        // the lock, which fails if anyone took it meanwhile (even if they gave it back).
        func confirmLock() async throws {
            guard Date().timeIntervalSince(renewed) >= lockRenewal else { return }
            try await renew(id, offset: recorded, expiresAt: expiresAt)
            renewed = Date()
        }
        do {
            for try await buffer in body {
                // The lifetime ends the upload even while a request is still trickling into it.
                guard Date() < end else {
                    throw UploadError.lifetimeReached(seconds: Int(lifetime))
                }
                try await confirmLock()
                try await writer.add(buffer)
                // A body of unknown length is recorded, and counted against the ledger, every 4 MiB.
                if deferredLength, writer.durable - checkedAt >= 4 << 20 {
                    try await checkDeferred(info, writer: writer, check: ledgerCheck)
                    (recorded, renewed, checkedAt) = (writer.durable, Date(), writer.durable)
                }
            }
            try await confirmLock()
            try await writer.flush()
            // The last stretch of a body of unknown length is checked too, however short.
            if deferredLength {
                try await checkDeferred(info, writer: writer, check: ledgerCheck)
                (recorded, renewed) = (writer.durable, Date())
            }
        } catch UploadError.locked(let reason) {
            throw UploadError.locked(reason)
        } catch {
            // Not a byte more, not a byte less, if the lock went to another writer meanwhile.
            try await confirmLock()
            let refusal = error as? UploadError
            // What arrived stays (the client resumes from there) when the connection dropped or the disk
            // filled up; a checksummed chunk, or a body that broke the rules, is all or nothing.
            let keep = checksum == nil && (refusal?.keepsReceivedBytes ?? true)
            if keep {
                if refusal == nil { try? await writer.flush() }
                ftruncate(fd, off_t(writer.durable))  // drops a half-done write, if any
                remember(id: id, writer: writer)
                await fsyncOffPool(fd)
                info.offset = writer.durable
                info.expiresAt = extendedExpiry(info)
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
        info.offset = writer.durable
        info.expiresAt = extendedExpiry(info)
        guard writer.durable == info.length else {
            remember(id: id, writer: writer)
            return nil
        }
        // Every byte is durable: say so before finishing, so that a HEAD meanwhile (on any host) does not
        // send the client back, and a finish cut short is completed by the next HEAD (`settle`).
        try await catalog.updateUpload(id: id, holder: holder, progress(info, lockUntil: Date().addingTimeInterval(lockDuration)))
        return try await finish(info: &info, hash: writer.hash, expectedSHA256: wholeFileSHA256)
    }

    /// Extends the write lock and records `offset`, if this writer still holds the lock: expired or not, as
    /// long as nobody took it meanwhile. A lock that another writer took, even if it gave it back since, is
    /// lost (`locked`): the file may hold that writer's bytes now.
    private func renew(_ id: String, offset: Int64, expiresAt: Date) async throws {
        do {
            try await catalog.updateUpload(id: id, holder: holder, UploadProgress(
                offset: offset, expiresAt: expiresAt, lockUntil: Date().addingTimeInterval(lockDuration)))
        } catch let error as CatalogError where error == .uploadLockLost(id) || error == .notFound("upload \(id)") {
            throw UploadError.locked(.anotherWriter)
        }
    }

    /// Records what a body of unknown length brought so far (fsynced first: the offset is what is durable),
    /// so that its key's other uploads, on any host, count these bytes too; then checks space and quotas.
    private func checkDeferred(_ info: UploadInfo, writer: ChunkWriter,
                               check: (UploadLedger) throws -> Void) async throws {
        await fsyncOffPool(writer.fd)
        try await renew(info.id, offset: writer.durable, expiresAt: info.expiresAt)
        try check(try await ledger())
    }

    private func remember(id: String, writer: ChunkWriter) {
        hashes.withLock { $0[id] = writer.hash.map { (writer.durable, $0) } }
    }

    private func fsyncOffPool(_ fd: Int32) async {
        _ = try? await NIOThreadPool.singleton.runIfActive { fsync(fd) }
    }

    // MARK: - Finishing

    /// The last byte is on disk (the caller holds the lock): hash (if the running hash was lost), move the
    /// data into `originals/`, then register the video with its plan job and mark the upload finished in
    /// one catalog transaction, which also releases the catalog's lock.
    private func finish(info: inout UploadInfo, hash: Crypto.SHA256?, expectedSHA256: String?) async throws -> VideoRecord {
        let id = info.id
        hashes.withLock { $0[id] = nil }
        let sha256: String
        if let hash {
            sha256 = FileDigest.hex(hash.finalize())
        } else {
            let path = dataPath(id)
            do {
                sha256 = try await NIOThreadPool.singleton.runIfActive { try FileDigest.sha256(ofFileAt: path) }
            } catch {
                throw UploadError.storageFailure("Reading the upload back to hash it failed: \(error).")
            }
        }
        if let expectedSHA256, expectedSHA256.lowercased() != sha256 {
            try? await catalog.deleteUpload(id: id, holder: holder)
            try? FileManager.default.removeItem(at: directory(id))
            throw UploadError.sha256Mismatch(actual: sha256, given: expectedSHA256.lowercased())
        }
        let destination = originalURL(info)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard rename(dataPath(id), destination.path) == 0 else {
            throw UploadError.storageFailure("Cannot move the upload into originals/: \(String(cString: strerror(errno))).")
        }
        let video: VideoRecord
        do {
            video = try await catalog.finishUpload(
                id: id, holder: holder,
                video: Ingest.newVideo(id: id, title: info.title, filename: info.filename, original: destination,
                                       size: info.length, sha256: sha256, visibility: info.visibility,
                                       owner: info.ownerKeyId, layout: layout),
                jobs: Ingest.firstJobs)
        } catch {
            // The bytes go back to the upload (so that a retry can finish it) only if the catalog says it is not
            // finished: after an answer lost past COMMIT they are a registered video's original. When unsure
            // they stay; the next writer's `reconcile` moves them back if the upload is still unfinished.
            if let record = try? await catalog.upload(id: id), record.videoId == nil {
                rename(destination.path, dataPath(id))
            }
            throw error
        }
        info.videoId = id
        info.offset = info.length
        logger.info("upload complete", metadata: ["video": "\(id)", "bytes": "\(info.length)", "sha256": "\(sha256)"])
        return video
    }

    // MARK: - Removing

    /// Removes an upload (tus DELETE, or a plain upload that failed): `locked` while a request writes to it.
    func delete(_ id: String) async throws {
        let info = try await acquire(id, refusal: .locked(.writer))
        defer { _ = busy.withLock { $0.remove(id) } }
        try await remove(info)
    }

    /// Record first, then files: a crash in between leaves a folder the sweeper removes by its age.
    /// An unfinished upload's bytes may also be in `originals/<id>/` (a finish cut short, which the sweeper
    /// does not reconcile): no video has that id, so they go too.
    private func remove(_ info: UploadInfo) async throws {
        try await catalog.deleteUpload(id: info.id, holder: holder)
        hashes.withLock { $0[info.id] = nil }
        let folders = [directory(info.id)] + (info.videoId == nil ? [layout.originalDirectory(video: info.id)] : [])
        try await NIOThreadPool.singleton.runIfActive {
            for folder in folders { try? FileManager.default.removeItem(at: folder) }
        }
    }

    /// Removes unfinished uploads past their deadline and the records of finished ones a while later,
    /// then folders no record knows (left by a crash) once they are older than the expiry.
    func sweep(now: Date = Date()) async throws -> Int {
        var removed = 0
        let expired = try await catalog.expiredUploads(now: now, createdBefore: now.addingTimeInterval(-lifetime),
                                                       finishedBefore: now.addingTimeInterval(-expiry))
        for candidate in expired where busy.withLock({ $0.insert(candidate.id).inserted }) {
            defer { _ = busy.withLock { $0.remove(candidate.id) } }
            // Another host may be writing to it (or sweeping it): then it is not ours to remove now. No
            // reconciling here: whatever state its files are in, they go.
            let until = Date().addingTimeInterval(lockDuration)
            guard let info = try? await catalog.lockUpload(id: candidate.id, holder: holder, until: until, now: Date())
            else { continue }
            // A finished upload's folder is already empty: its bytes are the video's original now.
            if (try? await remove(info)) != nil {
                removed += 1
                logger.info("expired upload removed", metadata: ["upload": "\(info.id)", "finished": "\(info.videoId != nil)"])
            }
        }
        let root = self.root, expiry = self.expiry
        let folders = try await NIOThreadPool.singleton.runIfActive {
            (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.filter { name in
                !name.hasPrefix(".") && Self.modification(of: root.appendingPathComponent(name)) < now.addingTimeInterval(-expiry)
            } ?? []
        }
        for name in folders where busy.withLock({ !$0.contains(name) }) {
            guard MediaPath.isPlainName(name), try await catalog.upload(id: name) == nil else { continue }
            try? FileManager.default.removeItem(at: directory(name))
            removed += 1
            logger.info("stray upload folder removed", metadata: ["upload": "\(name)"])
        }
        return removed
    }

    private static func modification(of url: URL) -> Date {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? Date()
    }

    /// Uploads in progress from before their state moved into the catalog (`uploads/<id>/info.json`) are
    /// recorded there, once, so that an upgrade does not lose them. The file's size is their offset.
    func adoptLegacyUploads() async {
        let layout = self.layout
        let found: [(UploadInfo, URL)] = (try? await NIOThreadPool.singleton.runIfActive {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.uploadsRoot.path)) ?? []
            return names.compactMap { name -> (UploadInfo, URL)? in
                let url = layout.uploadInfoFile(name)
                guard let data = FileManager.default.contents(atPath: url.path),
                      let legacy = try? JSONDecoder.upload.decode(LegacyUploadInfo.self, from: data) else { return nil }
                var st = stat()
                let size = stat(layout.uploadDataFile(name).path, &st) == 0 ? Int64(st.st_size) : 0
                return (legacy.record(offset: legacy.videoId == nil ? size : legacy.length), url)
            }
        }) ?? []
        for (info, file) in found {
            do {
                if try await catalog.upload(id: info.id) == nil {
                    try await catalog.createUpload(info, now: Date(), createdAfter: .distantPast) { _ in }
                    logger.notice("upload adopted from info.json", metadata: ["upload": "\(info.id)", "offset": "\(info.offset)"])
                }
                try? FileManager.default.removeItem(at: file)
            } catch {
                logger.warning("upload in info.json not adopted", metadata: ["upload": "\(info.id)", "error": "\(error)"])
            }
        }
    }
}

/// `uploads/<id>/info.json`, as Reel wrote it before uploads moved into the catalog.
private struct LegacyUploadInfo: Decodable {
    var id: String
    var length: Int64
    var filename: String?
    var title: String?
    var visibility: Visibility
    var createdAt: Date
    var expiresAt: Date
    var ownerKeyId: String?
    var videoId: String?
    var deferredLength: Bool?

    func record(offset: Int64) -> UploadInfo {
        UploadInfo(id: id, length: length, deferredLength: deferredLength ?? false, offset: offset, filename: filename,
                   title: title, visibility: visibility, ownerKeyId: ownerKeyId, createdAt: createdAt,
                   expiresAt: expiresAt, videoId: videoId)
    }
}

extension JSONDecoder {
    static var upload: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
