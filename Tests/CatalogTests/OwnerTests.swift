import Foundation
import GRDB
import Logging
import Testing
@testable import Catalog

/// Who sees which video: the owning key is stored with the video, and a private video is listed only to
/// its owner and to admins (the API's 404 for everyone else rests on this).
@Suite("Video owners")
struct OwnerTests {
    private func make(_ fixture: CatalogFixture, _ title: String, _ visibility: Visibility, owner: String?) async throws -> VideoRecord {
        fixture.clock.advance(1)  // distinct creation times: the list is newest first
        return try await fixture.catalog.createVideo(
            NewVideo(title: title, originalPath: "originals/\(title)/source.mp4", sizeBytes: 1, visibility: visibility,
                     ownerKeyId: owner), jobs: [])
    }

    @Test(arguments: Backend.available) func theOwnerIsStoredAndListsFollowTheAudience(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let alice = try await fixture.catalog.createAPIKey(name: "alice", scope: .upload, secretHash: "a")
        let bob = try await fixture.catalog.createAPIKey(name: "bob", scope: .upload, secretHash: "b")
        let alicePublic = try await make(fixture, "alice-public", .public, owner: alice.id)
        let alicePrivate = try await make(fixture, "alice-private", .private, owner: alice.id)
        let bobPrivate = try await make(fixture, "bob-private", .private, owner: bob.id)
        let ingested = try await make(fixture, "ingested-private", .private, owner: nil)

        #expect(try await fixture.video(id: alicePrivate.id).ownerKeyId == alice.id)
        #expect(try await fixture.video(id: ingested.id).ownerKeyId == nil)

        func titles(_ audience: VideoAudience, limit: Int = 10, offset: Int = 0) async throws -> [String] {
            try await fixture.catalog.videos(state: nil, audience: audience, limit: limit, offset: offset).map(\.title)
        }
        #expect(try await titles(.everyone) == ["ingested-private", "bob-private", "alice-private", "alice-public"])
        #expect(try await titles(.key(id: alice.id)) == ["alice-private", "alice-public"])
        #expect(try await titles(.key(id: bob.id)) == ["bob-private", "alice-public"])
        #expect(try await titles(.anonymous) == ["alice-public"])
        // Pages are cut after filtering: bob's second page is alice's public video, not an empty page.
        #expect(try await titles(.key(id: bob.id), limit: 1, offset: 1) == ["alice-public"])
        #expect(try await fixture.catalog.videos(state: .queued, audience: .key(id: bob.id), limit: 10, offset: 0).count == 2)

        // The SQL filter and the rule the API applies to single videos agree.
        let all = [alicePublic, alicePrivate, bobPrivate, ingested]
        for audience in [VideoAudience.everyone, .key(id: alice.id), .key(id: bob.id), .anonymous] {
            let listed = Set(try await fixture.catalog.videos(state: nil, audience: audience, limit: 10, offset: 0).map(\.id))
            #expect(listed == Set(all.filter(audience.canSee).map(\.id)), "\(audience)")
        }
    }

    @Test(arguments: Backend.available) func storedBytesArePerOwner(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let alice = try await fixture.catalog.createAPIKey(name: "alice", scope: .upload, secretHash: "a").id
        let bob = try await fixture.catalog.createAPIKey(name: "bob", scope: .upload, secretHash: "b").id
        for (title, size, owner) in [("a1", 1000, alice), ("a2", 234, alice), ("b1", 5, bob), ("none", 7, nil)] as [(String, Int64, String?)] {
            _ = try await fixture.catalog.createVideo(
                NewVideo(title: title, originalPath: "originals/\(title)/source.mp4", sizeBytes: size, ownerKeyId: owner), jobs: [])
        }
        #expect(try await fixture.catalog.storedBytes(ownerKeyId: alice) == 1234)
        #expect(try await fixture.catalog.storedBytes(ownerKeyId: bob) == 5)
        #expect(try await fixture.catalog.storedBytes(ownerKeyId: "carol") == 0)
    }

    /// A catalog from before owners were recorded: its videos keep working, with no owner, so a private
    /// one is seen by admins only.
    @Test func upgradingKeepsOldVideosWithoutAnOwner() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("reel.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteSchema.migrator.migrate(old, upTo: "v2: visibility, file names, API keys")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO videos (id, title, state, original_path, size_bytes, created_at, updated_at, visibility)
                    VALUES ('old', 'Old private', 'ready', 'originals/old/source.mp4', 1,
                            '2026-01-01 00:00:00.000', '2026-01-01 00:00:00.000', 'private')
                    """)
            }
        }
        let catalog = try SQLiteCatalog(path: path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let video = try #require(try await catalog.video(id: "old"))
        #expect(video.ownerKeyId == nil && video.visibility == .private)
        #expect(try await catalog.videos(state: nil, audience: .key(id: "anyone"), limit: 10, offset: 0).isEmpty)
        #expect(try await catalog.videos(state: nil, audience: .everyone, limit: 10, offset: 0).map(\.id) == ["old"])
    }
}
