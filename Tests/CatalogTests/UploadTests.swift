import Foundation
import Testing
@testable import Catalog

@Suite("Uploads in progress")
struct UploadTests {
    private func record(_ id: String, length: Int64 = 100, owner: String? = nil, deferred: Bool = false,
                        at now: Date) -> UploadRecord {
        UploadRecord(id: id, length: length, deferredLength: deferred, filename: "clip.mp4", title: "Clip",
                     visibility: .public, ownerKeyId: owner, createdAt: now, expiresAt: now.addingTimeInterval(3600))
    }

    private func key(_ f: CatalogFixture, _ name: String) async throws -> String {
        try await f.catalog.createAPIKey(name: name, scope: .upload, secretHash: "hash-\(name)-\(UUID())").id
    }

    @Test(arguments: Backend.available) func theLedgerCountsWhatUnfinishedUploadsHoldAndWerePromised(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let now = f.clock.now
        let alice = try await key(f, "alice")
        try await f.catalog.createUpload(record("a", length: 100, owner: alice, at: now), now: now, createdAfter: .distantPast) { ledger in
            #expect(ledger == UploadLedger())
        }
        try await f.catalog.createUpload(record("b", length: 500, owner: alice, deferred: true, at: now), now: now,
                                         createdAfter: .distantPast) { _ in }
        _ = try #require(try await f.catalog.lockUpload(id: "a", holder: "node-1", until: now + 60, now: now))
        try await f.catalog.updateUpload(id: "a", holder: "node-1", UploadProgress(offset: 40, expiresAt: now + 3600, lockUntil: nil))
        _ = try #require(try await f.catalog.lockUpload(id: "b", holder: "node-1", until: now + 60, now: now))
        try await f.catalog.updateUpload(id: "b", holder: "node-1", UploadProgress(offset: 30, expiresAt: now + 3600, lockUntil: nil))

        let ledger = try await f.catalog.uploadLedger(now: now, createdAfter: .distantPast)
        #expect(ledger.promised == 60, "100 declared − 40 received; the deferred one promises nothing")
        #expect(ledger.usage(of: alice) == UploadLedger.Usage(open: 2, bytes: 100 + 30))
        // Expired, or older than the lifetime: no longer counted.
        #expect(try await f.catalog.uploadLedger(now: now + 3601, createdAfter: .distantPast) == UploadLedger())
        #expect(try await f.catalog.uploadLedger(now: now, createdAfter: now) == UploadLedger())
    }

    /// Creations race against one quota: `admit` of each sees every upload admitted before it.
    @Test(arguments: Backend.available) func concurrentCreationsAreAdmittedOneAtATime(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let catalogs = try await f.instances(3)
        let owner = try await key(f, "racer")
        let now = f.clock.now
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<12 {
                let catalog = catalogs[i % catalogs.count]
                let upload = record("u\(i)", owner: owner, at: now)
                group.addTask {
                    do {
                        try await catalog.createUpload(upload, now: now, createdAfter: .distantPast) { ledger in
                            guard ledger.usage(of: owner).open < 5 else { throw CatalogError.invalid("quota") }
                        }
                        return true
                    } catch CatalogError.invalid("quota") {
                        return false
                    }
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(admitted == 5)
        #expect(try await f.catalog.uploadLedger(now: now, createdAfter: .distantPast).usage(of: owner).open == 5)
    }

    @Test(arguments: Backend.available) func oneWriterAtATimeUntilItsLockExpires(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let now = f.clock.now
        try await f.catalog.createUpload(record("x", at: now), now: now, createdAfter: .distantPast) { _ in }
        let first = try #require(try await f.catalog.lockUpload(id: "x", holder: "node-1", until: now + 30, now: now))
        #expect(first.lockHolder == "node-1")
        #expect(try await f.catalog.lockUpload(id: "x", holder: "node-2", until: now + 30, now: now + 10) == nil)
        // The holder may renew; another node may not write under it.
        #expect(try await f.catalog.lockUpload(id: "x", holder: "node-1", until: now + 60, now: now + 10) != nil)
        await #expect(throws: CatalogError.uploadLockLost("x")) {
            try await f.catalog.updateUpload(id: "x", holder: "node-2", UploadProgress(offset: 5, expiresAt: now + 3600, lockUntil: nil))
        }
        // node-1 died: once its lock expired, node-2 takes over, and node-1 can no longer record anything.
        let taken = try #require(try await f.catalog.lockUpload(id: "x", holder: "node-2", until: now + 100, now: now + 61))
        #expect(taken.lockHolder == "node-2" && taken.offset == 0)
        await #expect(throws: CatalogError.uploadLockLost("x")) {
            try await f.catalog.updateUpload(id: "x", holder: "node-1", UploadProgress(offset: 50, expiresAt: now + 3600, lockUntil: nil))
        }
        try await f.catalog.updateUpload(id: "x", holder: "node-2", UploadProgress(offset: 20, expiresAt: now + 3700, lockUntil: nil))
        let released = try #require(try await f.catalog.upload(id: "x"))
        #expect(released.offset == 20 && released.lockHolder == nil && released.lockExpiresAt == nil)
        #expect(try await f.catalog.lockUpload(id: "x", holder: "node-1", until: now + 130, now: now + 70) != nil)
        await #expect(throws: CatalogError.notFound("upload nope")) {
            _ = try await f.catalog.lockUpload(id: "nope", holder: "node-1", until: now + 30, now: now)
        }
    }

    @Test(arguments: Backend.available) func finishingRegistersTheVideoAndTheUploadTogether(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let now = f.clock.now
        try await f.catalog.createUpload(record("v1", length: 10, at: now), now: now, createdAfter: .distantPast) { _ in }
        let video = NewVideo(id: "v1", title: "Clip", originalPath: "originals/v1/source.mp4", sizeBytes: 10, sha256: "ab")
        await #expect(throws: CatalogError.uploadLockLost("v1"), "only the lock holder finishes") {
            _ = try await f.catalog.finishUpload(id: "v1", holder: "node-1", video: video, jobs: [NewJob(kind: .plan)])
        }
        #expect(try await f.catalog.video(id: "v1") == nil)
        _ = try await f.catalog.lockUpload(id: "v1", holder: "node-1", until: now + 30, now: now)
        let registered = try await f.catalog.finishUpload(id: "v1", holder: "node-1", video: video, jobs: [NewJob(kind: .plan)])
        #expect(registered.id == "v1" && registered.sha256 == "ab")
        let upload = try #require(try await f.catalog.upload(id: "v1"))
        #expect(upload.videoId == "v1" && upload.offset == 10 && upload.lockHolder == nil)
        #expect(try await f.catalog.jobs(videoId: "v1", states: nil, limit: 10).map(\.kind) == [.plan])
        // A second finish (a retry after a lost response) returns the same video and adds no job.
        _ = try await f.catalog.lockUpload(id: "v1", holder: "node-2", until: now + 30, now: now)
        let again = try await f.catalog.finishUpload(id: "v1", holder: "node-2", video: video, jobs: [NewJob(kind: .plan)])
        #expect(again == registered)
        #expect(try await f.catalog.jobs(videoId: "v1", states: nil, limit: 10).count == 1)
        #expect(try await f.catalog.uploadLedger(now: now, createdAfter: .distantPast) == UploadLedger())
    }

    @Test(arguments: Backend.available) func theSweeperSeesExpiredAndOldUploads(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let now = f.clock.now
        try await f.catalog.createUpload(record("fresh", at: now), now: now, createdAfter: .distantPast) { _ in }
        var stale = record("stale", at: now - 7200)
        stale.expiresAt = now - 1
        try await f.catalog.createUpload(stale, now: now, createdAfter: .distantPast) { _ in }
        try await f.catalog.createUpload(record("ancient", at: now - 86_400 * 8), now: now, createdAfter: .distantPast) { _ in }
        let expired = try await f.catalog.expiredUploads(now: now, createdBefore: now - 86_400 * 7, finishedBefore: now - 3600)
        #expect(Set(expired.map(\.id)) == ["stale", "ancient"])
        _ = try await f.catalog.lockUpload(id: "stale", holder: "sweeper", until: now + 30, now: now)
        await #expect(throws: CatalogError.uploadLockLost("ancient")) { try await f.catalog.deleteUpload(id: "ancient", holder: "sweeper") }
        try await f.catalog.deleteUpload(id: "stale", holder: "sweeper")
        #expect(try await f.catalog.upload(id: "stale") == nil)
    }
}
