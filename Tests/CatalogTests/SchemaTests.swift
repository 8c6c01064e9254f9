import Foundation
import GRDB
import Logging
import Storage
import Testing
@testable import Catalog

@Suite("Opening and schema")
struct SchemaTests {
    @Test func migrationsCreateTheSchemaInWALMode() async throws {
        let fixture = try CatalogFixture()
        #expect(FileManager.default.fileExists(atPath: fixture.path), "parent directories are created")
        #expect(try fixture.catalog.journalMode == "wal")
        #expect(fixture.catalog.filesystem == .local)
        #expect(!fixture.catalog.usesRollbackJournal)

        let (tables, indexes, foreignKeys) = try await fixture.catalog.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        for table in ["videos", "renditions", "jobs", "grdb_migrations"] { #expect(tables.contains(table), "\(table)") }
        #expect(Set(indexes).isSuperset(of: ["jobs_claim", "jobs_leases", "jobs_by_video", "jobs_by_parent", "videos_by_state"]))
        #expect(foreignKeys == 1)

        let columns = try await fixture.catalog.writer.read { db in try db.columns(in: "jobs").map(\.name) }
        #expect(columns.contains("lease_expires_at") && columns.contains("max_attempts") && columns.contains("run_after"))

        // The claim query uses the claim index and needs no sort.
        let plan = try await fixture.catalog.writer.read { db in
            try Row.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE state = 'queued' AND run_after <= ?
                ORDER BY priority DESC, run_after ASC, id ASC LIMIT 1
                """, arguments: [Date()]).map { row -> String in try row.decode(forColumn: "detail") }
        }
        #expect(plan.contains { $0.contains("jobs_claim") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }

    @Test func reopeningKeepsDataAndDoesNotMigrateTwice() async throws {
        let fixture = try CatalogFixture()
        let video = try await fixture.video(jobs: [NewJob(kind: .plan)])
        let again = try fixture.anotherInstance()
        #expect(try await again.video(id: video.id) == video)
        let applied = try await again.writer.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == ["v1", "v2: visibility, file names, API keys", "v3: video owners"])
    }

    @Test func forcedRollbackJournalUsesDelete() async throws {
        let fixture = try CatalogFixture(forceRollbackJournal: true)
        #expect(fixture.catalog.usesRollbackJournal)
        #expect(try fixture.catalog.journalMode == "delete")
        let video = try await fixture.video(jobs: [NewJob(kind: .plan)])
        let claimed = try #require(try await fixture.claim())
        #expect(claimed.job.videoId == video.id)
        #expect(!FileManager.default.fileExists(atPath: fixture.path + "-wal"))
    }

    @Test func aWALFileIsConvertedWhenNobodyHoldsIt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("reel.sqlite").path
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let wal = try SQLiteCatalog(path: path, logger: quiet)
            #expect(try wal.journalMode == "wal")
            _ = try await wal.createVideo(NewVideo(title: "a", originalPath: "a", sizeBytes: 1), jobs: [])
        }
        let rollback = try SQLiteCatalog(path: path, forceRollbackJournal: true, logger: quiet)
        #expect(try rollback.journalMode == "delete")
        #expect(try await rollback.videos(state: nil, limit: 10, offset: 0).count == 1)
    }

    @Test func aRollbackJournalIsRefusedWhileAnotherConnectionHoldsWAL() async throws {
        let fixture = try CatalogFixture()
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            _ = try SQLiteCatalog(path: fixture.path, forceRollbackJournal: true,
                                  options: .init(busyTimeout: 0.2), logger: quiet)
            Issue.record("opened a WAL database in rollback mode while another connection holds it")
        } catch let error as CatalogError {
            guard case let .invalid(why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("another process still has it open in WAL mode"), "\(why)")
        } catch {
            Issue.record("expected CatalogError.invalid, got \(error)")
        }
        #expect(try fixture.catalog.journalMode == "wal")
    }

    @Test func openByURL() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

        let byURL = try SQLiteCatalog.open(url: "sqlite://" + directory.appendingPathComponent("a/reel.sqlite").path, logger: quiet)
        #expect(try await byURL.queueDepth().values.reduce(0, +) == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("a/reel.sqlite").path))

        _ = try SQLiteCatalog.open(url: directory.appendingPathComponent("b/reel.sqlite").path, logger: quiet)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("b/reel.sqlite").path))

        #expect(throws: CatalogError.invalid("PostgreSQL support is coming; use a SQLite path")) {
            _ = try SQLiteCatalog.open(url: "postgres://reel@db/reel", logger: quiet)
        }
        #expect(throws: CatalogError.self) { _ = try SQLiteCatalog.open(url: "sqlite://relative/path", logger: quiet) }
        #expect(throws: CatalogError.self) { _ = try SQLiteCatalog.open(url: "mysql://x/y", logger: quiet) }
    }

    @Test func filesystemKind() throws {
        #expect(FilesystemKind.of(path: FileManager.default.temporaryDirectory.path) == .local)
        // A path that does not exist yet is judged by its nearest existing ancestor.
        #expect(FilesystemKind.of(path: "/tmp/does-not-exist-\(UUID())/a/b.sqlite") == .local)
        #expect(FilesystemKind.network("nfs").isNetwork)
        #expect(!FilesystemKind.local.isNetwork)
        #if os(Linux)
        #expect(FilesystemKind.classify(magic: 0x6969) == .network("nfs"))
        #expect(FilesystemKind.classify(magic: 0xFF53_4D42) == .network("cifs"))
        #expect(FilesystemKind.classify(magic: 0xFE53_4D42) == .network("smb2"))
        #expect(FilesystemKind.classify(magic: 0x517B) == .network("smb"))
        #expect(FilesystemKind.classify(magic: 0x6573_5546) == .network("fuse"))
        #expect(FilesystemKind.classify(magic: 0xEF53) == .local)          // ext4
        #expect(FilesystemKind.classify(magic: 0x0102_1994) == .local)     // tmpfs
        #expect(FilesystemKind.of(path: "/dev/shm") == .local)
        #endif
    }
}

@Suite("Opening concurrently")
struct ConcurrentOpenTests {
    /// Workers started together all open (and migrate) a fresh database at once.
    @Test(arguments: [false, true])
    func manyInstancesOpenAFreshFileAtOnce(rollbackJournal: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("reel.sqlite").path
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let modes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let catalog = try SQLiteCatalog(path: path, forceRollbackJournal: rollbackJournal, logger: quiet)
                    _ = try await catalog.createVideo(NewVideo(title: "t", originalPath: "o", sizeBytes: 1), jobs: [NewJob(kind: .plan)])
                    return try catalog.journalMode
                }
            }
            var modes: [String] = []
            for try await mode in group { modes.append(mode) }
            return modes
        }
        #expect(modes == Array(repeating: rollbackJournal ? "delete" : "wal", count: 8))
        let catalog = try SQLiteCatalog(path: path, forceRollbackJournal: rollbackJournal, logger: quiet)
        #expect(try await catalog.queueDepth()[.queued] == 8)
    }
}
