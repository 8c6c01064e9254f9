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

    func store(_ settings: (inout ServerSettings) -> Void = { _ in }) -> UploadStore {
        var values = ServerSettings(layout: StorageLayout(root: root), profilesDirectory: root, minFreeBytes: 0,
                                    signingKey: Array("0123456789abcdef".utf8))
        settings(&values)
        return UploadStore(layout: values.layout, catalog: catalog, settings: values, metrics: ServerMetrics(),
                           logger: Logger(label: "test"))
    }

    /// An upload key of the catalog (uploads and videos name their owner's key).
    func key() async throws -> String {
        if let existing = try await catalog.apiKey(secretHash: "hash-k") { return existing.id }
        return try await catalog.createAPIKey(name: "k", scope: .upload, secretHash: "hash-k").id
    }

    func chunk(_ count: Int) -> RequestBody { RequestBody(buffer: ByteBuffer(repeating: 7, count: count)) }

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
