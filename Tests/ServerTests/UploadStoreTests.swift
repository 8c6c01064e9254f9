import Catalog
import Foundation
import Hummingbird
import Logging
import NIOCore
import Storage
import Testing
@testable import Server

/// `UploadStore` on a real storage root and catalog in a temporary directory.
@Suite("Upload store")
struct UploadStoreTests {
    let root: URL
    let catalog: SQLiteCatalog

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reel-uploads-\(UUID().uuidString)")
        catalog = try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path)
    }

    /// A store of its own: another host, as far as the catalog's upload locks can tell.
    func store(catalog: (any Catalog)? = nil, lockDuration: TimeInterval = 20, lockRenewal: TimeInterval = 5,
               _ settings: (inout ServerSettings) -> Void = { _ in }) -> UploadStore {
        var values = ServerSettings(layout: StorageLayout(root: root), profilesDirectory: root, minFreeBytes: 0,
                                    signingKey: Array("0123456789abcdef".utf8))
        settings(&values)
        return UploadStore(layout: values.layout, catalog: catalog ?? self.catalog, settings: values, metrics: ServerMetrics(),
                           logger: Logger(label: "test"), lockDuration: lockDuration, lockRenewal: lockRenewal)
    }

    func data(_ store: UploadStore, _ id: String) throws -> Data {
        try Data(contentsOf: store.directory(id).appendingPathComponent("data"))
    }

    /// Waits (up to 30 s) until `condition` holds; false if it never did.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<600 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    struct Dropped: Error {}

    /// Host A's body stalls past its lock's lease; host B takes the upload over and writes its bytes. When
    /// A's body goes on (or its connection drops), A must neither write over B's bytes, nor cut the file
    /// back, nor take the released lock again and record its own offset.
    @Test("A writer whose lock expired while its body stalled leaves the file to the next writer", arguments: [false, true])
    func aStaleWriterKeepsOffTheFile(dropped: Bool) async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let a = store(lockDuration: 1, lockRenewal: 0.2), b = store(lockDuration: 1, lockRenewal: 0.2)
        let info = try await a.create(length: 100, filename: nil, title: nil, visibility: .public, owner: try await key())
        let (stream, feed) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let stalled = Task {
            try await a.append(id: info.id, at: 0, body: RequestBody(asyncSequence: stream), checksum: nil)
        }
        feed.yield(ByteBuffer(repeating: 0x41, count: 10))
        #expect(try await eventually { try await catalog.upload(id: info.id)?.lockHolder == a.holder })
        try await Task.sleep(for: .seconds(1.5))  // A's lease (1 s) runs out while its body waits
        #expect(try await b.append(id: info.id, at: 0, body: chunk(50), checksum: nil).offset == 50)

        feed.yield(ByteBuffer(repeating: 0x41, count: 10))
        if dropped { feed.finish(throwing: Dropped()) } else { feed.finish() }
        await #expect(throws: UploadError.locked(.anotherWriter)) { _ = try await stalled.value }
        #expect(try data(a, info.id) == Data(repeating: 7, count: 50), "B's bytes, untouched")
        let record = try #require(try await catalog.upload(id: info.id))
        #expect(record.offset == 50 && record.lockHolder == nil)
    }

    /// Two chunked plain uploads of one key stream at once: each must count the other's bytes against the
    /// key's in-flight quota (they promised nothing up front), not only its own.
    @Test("Chunked bodies of one key streaming at once share its in-flight quota")
    func chunkedBodiesStreamingAtOnceShareTheQuota() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store { $0.maxBytesInFlightPerKey = 10 << 20; $0.maxUploadBytes = 64 << 20 }
        let owner = try await key()
        let first = try await store.create(length: store.maxUploadBytes, filename: nil, title: nil, visibility: .public,
                                           owner: owner, lengthKnown: false)
        let second = try await store.create(length: store.maxUploadBytes, filename: nil, title: nil, visibility: .public,
                                            owner: owner, lengthKnown: false)
        let (stream, feed) = AsyncStream<ByteBuffer>.makeStream()
        let streaming = Task {
            try await store.append(id: first.id, at: 0, body: RequestBody(asyncSequence: stream), checksum: nil,
                                   deferredLength: true)
        }
        feed.yield(ByteBuffer(repeating: 1, count: 8 << 20))
        #expect(try await eventually { try await store.ledger().usage(of: owner).bytes >= 8 << 20 },
                "the first body's 8 MiB count while it still streams")
        await #expect(throws: UploadError.quotaExceeded(.bytesInFlight(inFlight: 16 << 20, length: 0, limit: 10 << 20))) {
            _ = try await store.append(id: second.id, at: 0, body: chunk(8 << 20), checksum: nil, deferredLength: true)
        }
        feed.finish()
        #expect(try await streaming.value.video != nil)
    }

    /// The catalog registered the video, but its answer was lost (a connection that dropped after COMMIT):
    /// the original must stay where the registered video says it is.
    @Test("A finish whose answer was lost leaves the registered video's original in place")
    func aFinishWhoseAnswerWasLostKeepsTheOriginal() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store(catalog: AnswerLostOnFinish(catalog))
        let info = try await store.create(length: 10, filename: "clip.mp4", title: nil, visibility: .public, owner: try await key())
        await #expect(throws: CatalogError.unavailable("the connection dropped after COMMIT")) {
            _ = try await store.append(id: info.id, at: 0, body: chunk(10), checksum: nil)
        }
        let video = try #require(try await catalog.video(id: info.id), "the video was registered")
        let original = root.appendingPathComponent(video.originalPath)
        #expect(FileManager.default.contents(atPath: original.path) == Data(repeating: 7, count: 10))
        #expect(!FileManager.default.fileExists(atPath: store.directory(info.id).appendingPathComponent("data").path))
        // What the client sees next: its video.
        #expect(try await self.store().settle(info.id).videoId == info.id)
    }

    /// An upload key of the catalog (uploads and videos name their owner's key).
    func key() async throws -> String {
        if let existing = try await catalog.apiKey(secretHash: "hash-k") { return existing.id }
        return try await catalog.createAPIKey(name: "k", scope: .upload, secretHash: "hash-k").id
    }

    func chunk(_ count: Int) -> RequestBody { RequestBody(buffer: ByteBuffer(repeating: 7, count: count)) }

    /// A finish cut short (a crash between moving the bytes into originals/ and the catalog's transaction)
    /// that no client came back for: once the upload expires, its bytes go too, from wherever they are.
    @Test("Sweeping an unfinished upload also removes the bytes a finish cut short left in originals/")
    func sweepingRemovesTheBytesOfAFinishCutShort() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store()
        let info = try await store.create(length: 4, filename: "clip.mp4", title: nil, visibility: .public, owner: try await key())
        let original = store.layout.originalDirectory(video: info.id)
        try FileManager.default.createDirectory(at: original, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: store.directory(info.id).appendingPathComponent("data"),
                                         to: original.appendingPathComponent("source.mp4"))
        #expect(try await store.sweep(now: info.createdAt.addingTimeInterval(8 * 24 * 3600)) == 1)
        #expect(!FileManager.default.fileExists(atPath: original.path), "no original without a video")
        #expect(try await catalog.video(id: info.id) == nil)
    }

    @Test("Trickling bytes does not keep an upload past its absolute lifetime (7 days by default)")
    func lifetimeIsAbsolute() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // Each byte would push the expiry 30 days out; the lifetime caps it at 7 days after creation.
        let store = store { $0.uploadExpiry = 30 * 24 * 3600 }
        let info = try await store.create(length: 100, filename: "a.mp4", title: nil, visibility: .public, owner: try await key())
        var offset: Int64 = 0
        for _ in 0..<3 {
            offset = try await store.append(id: info.id, at: offset, body: chunk(1), checksum: nil).offset
        }
        let trickled = try await store.info(info.id)
        #expect(trickled.expiresAt <= info.createdAt.addingTimeInterval(7 * 24 * 3600))
        #expect(try await store.sweep(now: info.createdAt.addingTimeInterval(7 * 24 * 3600 + 1)) == 1)
        #expect(!FileManager.default.fileExists(atPath: store.directory(info.id).path))
    }

    @Test("A request still trickling when the lifetime ends is cut off, and the upload is swept")
    func lifetimeEndsARunningRequest() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // Long enough that the request surely starts within the lifetime even when the suites starve
        // this process for seconds; its second byte comes only after the lifetime has ended.
        let store = store { $0.uploadLifetime = 5 }
        let info = try await store.create(length: 100, filename: nil, title: nil, visibility: .public, owner: try await key())
        let end = info.createdAt.addingTimeInterval(5.5)
        let trickle = AsyncStream<ByteBuffer> { continuation in
            Task {
                continuation.yield(ByteBuffer(repeating: 1, count: 1))
                try await Task.sleep(for: .seconds(max(0, end.timeIntervalSinceNow)))
                continuation.yield(ByteBuffer(repeating: 2, count: 1))
                continuation.finish()
            }
        }
        await #expect(throws: UploadError.lifetimeReached(seconds: 5)) {
            _ = try await store.append(id: info.id, at: 0, body: RequestBody(asyncSequence: trickle), checksum: nil)
        }
        #expect(try await store.sweep() == 1)
    }

    @Test("The sweeper removes an expired upload whatever became of its files, and folders no record knows")
    func sweepingIsNotStuckOnMissingFiles() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store()
        let info = try await store.create(length: 100, filename: nil, title: nil, visibility: .public, owner: try await key())
        try FileManager.default.removeItem(at: store.directory(info.id))
        let stray = store.directory("stray-folder")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        let later = info.createdAt.addingTimeInterval(8 * 24 * 3600)
        try FileManager.default.setAttributes([.modificationDate: info.createdAt.addingTimeInterval(-2 * 24 * 3600)],
                                              ofItemAtPath: stray.path)
        #expect(try await store.sweep(now: later) == 2)
        #expect(try await catalog.upload(id: info.id) == nil)
        #expect(!FileManager.default.fileExists(atPath: stray.path))
        #expect(try await store.sweep(now: later) == 0, "nothing left to retry")
    }

    @Test("The store refuses with domain errors, not HTTP: size, quotas, offsets, checksums, unknown ids")
    func domainErrors() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store { $0.maxUploadBytes = 1000; $0.maxOpenUploadsPerKey = 1 }
        await #expect(throws: UploadError.negativeLength) {
            _ = try await store.create(length: -1, filename: nil, title: nil, visibility: .public, owner: try await key())
        }
        await #expect(throws: UploadError.tooLarge(length: 1001, limit: 1000)) {
            _ = try await store.create(length: 1001, filename: nil, title: nil, visibility: .public, owner: try await key())
        }
        let info = try await store.create(length: 10, filename: nil, title: nil, visibility: .public, owner: try await key())
        await #expect(throws: UploadError.quotaExceeded(.openUploads(open: 1))) {
            _ = try await store.create(length: 10, filename: nil, title: nil, visibility: .public, owner: try await key())
        }
        await #expect(throws: UploadError.offsetMismatch(expected: 3, actual: 0)) {
            _ = try await store.append(id: info.id, at: 3, body: chunk(1), checksum: nil)
        }
        await #expect(throws: UploadError.pastLength(10)) {
            _ = try await store.append(id: info.id, at: 0, body: chunk(11), checksum: nil)
        }
        await #expect(throws: UploadError.checksumMismatch) {
            _ = try await store.append(id: info.id, at: 0, body: chunk(4), checksum: .sha256(Data(count: 32)))
        }
        // Neither refusal kept a byte; a plain chunk does.
        #expect(try await store.append(id: info.id, at: 0, body: chunk(4), checksum: nil).offset == 4)
        await #expect(throws: UploadError.notFound(id: "nope")) { _ = try await store.info("nope") }
        await #expect(throws: UploadError.notFound(id: "../x")) { _ = try await store.info("../x") }
    }

    @Test("One place turns upload errors into problems: status, title and detail")
    func problems() {
        let quota = UploadError.quotaExceeded(.bytesInFlight(inFlight: 5, length: 6, limit: 10)).problem
        #expect(quota.status.code == 507 && quota.title == "Upload quota exceeded")
        #expect(quota.detail.contains("5 bytes in flight") && quota.detail.contains("quota of 10"))
        let larger = UploadError.quotaExceeded(.uploadLargerThanInFlight(length: 20, limit: 10)).problem
        #expect(larger.status.code == 413 && larger.title == "Upload quota exceeded")
        let space = UploadError.insufficientStorage(free: 100, promised: 0, needed: 50, reserve: 80).problem
        #expect(space.status.code == 507 && space.title == "Insufficient Storage" && !space.detail.contains("promised"))
        #expect(UploadError.insufficientStorage(free: 100, promised: 30, needed: 50, reserve: 80).problem.detail
                    .contains("30 of them promised to unfinished uploads"))
        let statuses: [(UploadError, Int)] = [
            (.negativeLength, 400), (.tooLarge(length: 2, limit: 1), 413), (.bodyTooLarge(limit: 1), 413), (.pastLength(1), 400),
            (.storageFull, 507), (.notFound(id: "x"), 404), (.expired, 410), (.lifetimeReached(seconds: 1), 410),
            (.locked(.anotherWriter), 423), (.locked(.anotherFinisher), 423), (.locked(.writer), 423),
            (.offsetMismatch(expected: 1, actual: 0), 409), (.alreadyComplete(expected: 1, length: 2), 409),
            (.bodyEndedEarly(reason: "eof", stored: 3), 400), (.checksumMismatch, 460),
            (.sha256Mismatch(actual: "a", given: "b"), 422), (.storageFailure("disk"), 500),
        ]
        for (error, status) in statuses {
            #expect(error.problem.status.code == status, "\(error)")
            #expect(!error.problem.detail.isEmpty)
        }
        // Only a full disk keeps what arrived before it.
        #expect(UploadError.storageFull.keepsReceivedBytes && !UploadError.checksumMismatch.keepsReceivedBytes)
    }
}
