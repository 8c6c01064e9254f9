import Foundation
import GRDB
import Logging
import ReelTestSupport
import Storage
import Testing
@testable import Catalog

@Suite("Opening and schema")
struct SchemaTests {
    @Test func migrationsCreateTheSchemaInWALMode() async throws {
        let fixture = try await CatalogFixture.make(.sqlite)
        #expect(FileManager.default.fileExists(atPath: fixture.path), "parent directories are created")
        #expect(try fixture.sqlite.journalMode == "wal")
        #expect(fixture.sqlite.filesystem == .local)
        #expect(!fixture.sqlite.usesRollbackJournal)

        let (tables, indexes, foreignKeys) = try await fixture.sqlite.writer.read { db in
            (try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        for table in ["videos", "renditions", "jobs", "grdb_migrations"] { #expect(tables.contains(table), "\(table)") }
        #expect(Set(indexes).isSuperset(of: ["jobs_claim", "jobs_leases", "jobs_by_video", "jobs_by_parent", "videos_by_state"]))
        #expect(foreignKeys == 1)

        let columns = try await fixture.sqlite.writer.read { db in try db.columns(in: "jobs").map(\.name) }
        #expect(columns.contains("lease_expires_at") && columns.contains("max_attempts") && columns.contains("run_after"))

        // The claim query uses the claim index and needs no sort.
        let plan = try await fixture.sqlite.writer.read { db in
            try Row.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE state = ? AND run_after <= ?
                ORDER BY priority DESC, run_after ASC, id ASC LIMIT 1
                """, arguments: [JobState.queued, Date()]).map { row -> String in try row.decode(forColumn: "detail") }
        }
        #expect(plan.contains { $0.contains("jobs_claim") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }

    @Test func reopeningKeepsDataAndDoesNotMigrateTwice() async throws {
        let fixture = try await CatalogFixture.make(.sqlite)
        let video = try await fixture.video(jobs: [NewJob(kind: .plan)])
        let again = try #require(try await fixture.anotherInstance() as? SQLiteCatalog)
        #expect(try await again.video(id: video.id) == video)
        let applied = try await again.writer.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == ["v1", "v2: visibility, file names, API keys", "v3: video owners", "v4: uploads in progress",
                            "v5: webhooks"])
    }

    @Test func forcedRollbackJournalUsesDelete() async throws {
        let fixture = try await CatalogFixture.make(.sqlite, forceRollbackJournal: true)
        #expect(fixture.sqlite.usesRollbackJournal)
        #expect(try fixture.sqlite.journalMode == "delete")
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
        let fixture = try await CatalogFixture.make(.sqlite)
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
        #expect(try fixture.sqlite.journalMode == "wal")
    }

    @Test func openByURL() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

        let byURL = try await CatalogConnector.open(url: "sqlite://" + directory.appendingPathComponent("a/reel.sqlite").path, logger: quiet)
        #expect(try await byURL.queueDepth().values.reduce(0, +) == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("a/reel.sqlite").path))

        _ = try await CatalogConnector.open(url: directory.appendingPathComponent("b/reel.sqlite").path, logger: quiet)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("b/reel.sqlite").path))

        await #expect(throws: CatalogError.self) { _ = try await CatalogConnector.open(url: "sqlite://relative/path", logger: quiet) }
        await #expect(throws: CatalogError.self) { _ = try await CatalogConnector.open(url: "mysql://x/y", logger: quiet) }
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

@Suite("Schema versions")
struct SchemaVersionTests {
    /// A newer Reel migrated the database: an older node refuses to run on it instead of misreading it.
    @Test(arguments: Backend.available) func aSchemaNewerThanThisBuildIsRefused(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        switch backend {
        case .sqlite:
            try await fixture.sqlite.writer.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')")
            }
        case .postgres:
            try TestPostgres.psql(fixture.location, "INSERT INTO reel_schema (version, name) VALUES (99, 'from the future')")
        }
        do {
            _ = try await fixture.anotherInstance()
            Issue.record("a catalog with a newer schema was opened")
        } catch let error as CatalogError {
            #expect("\(error)".contains("newer Reel migrated it"), "\(error)")
        }
    }
}

@Suite("PostgreSQL")
struct PostgresTests {
    /// Nodes started together against a fresh database: each migration runs once, every node works.
    @Test(.enabled(if: TestPostgres.required)) func nodesStartingTogetherMigrateOnce() async throws {
        let url = try TestPostgres.createDatabase("migrate")
        let catalogs = try await withThrowingTaskGroup(of: PostgresCatalog.self) { group in
            for _ in 0..<6 {
                group.addTask { try await PostgresCatalog.connect(url: PostgresURL(url), logger: quietLogger) }
            }
            var all: [PostgresCatalog] = []
            for try await catalog in group { all.append(catalog) }
            return all
        }
        defer { catalogs.forEach { $0.close() } }
        for catalog in catalogs {
            _ = try await catalog.createVideo(NewVideo(title: "t", originalPath: "o", sizeBytes: 1), jobs: [NewJob(kind: .plan)])
        }
        #expect(try await catalogs[0].queueDepth()[.queued] == 6)
        #expect(try TestPostgres.psql(url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM reel_schema")
                == PostgresSchema.migrations.map { String($0.version) }.joined(separator: ","))
        #expect(try await catalogs[5].schemaVersion() == PostgresSchema.latestVersion)
    }

    /// A server or worker that starts while the database is away waits for it (`waitFor`) instead of
    /// exiting; a one-off command does not wait.
    @Test(.enabled(if: TestPostgres.required)) func longRunningProcessesWaitForTheDatabase() async throws {
        let url = try TestPostgres.createDatabase("waiting")
        let name = String(try #require(URLComponents(string: url)).path.dropFirst())
        let server = try #require(TestPostgres.serverURL)
        try TestPostgres.psql(server, "ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
        let quick = url + "?connect_timeout=1"
        await #expect(throws: CatalogError.self, "a command gives up at once") {
            _ = try await CatalogConnector.open(url: quick, logger: quietLogger)
        }
        let waiting = Task { try await CatalogConnector.open(url: quick, waitFor: 120, logger: quietLogger) }
        try await Task.sleep(for: .seconds(2))
        try TestPostgres.psql(server, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        let catalog = try #require(try await waiting.value as? PostgresCatalog)
        defer { catalog.close() }
        #expect(try await catalog.schemaVersion() == PostgresSchema.latestVersion)
    }

    @Test func urlsAreReadLikeLibpq() throws {
        let full = try PostgresURL("postgres://reel:s%40cret@db.internal:6432/videos?sslmode=verify-full&sslrootcert=/etc/rds.pem&pool_size=25&connect_timeout=3")
        #expect(full.user == "reel" && full.password == "s@cret" && full.host == "db.internal" && full.port == 6432)
        #expect(full.database == "videos" && full.sslMode == .verifyFull && full.sslRootCert == "/etc/rds.pem")
        #expect(full.poolSize == 25 && full.connectTimeout == 3)
        #expect("\(full)" == "postgres://reel@db.internal:6432/videos", "no password in logs")
        #expect(PostgresURL.redacted("postgres://reel:hunter2@db/videos").contains("hunter2") == false)

        let plain = try PostgresURL("postgresql://app@localhost")
        #expect(plain.port == 5432 && plain.database == "app" && plain.sslMode == .prefer && plain.poolSize == 10)
        let socket = try PostgresURL("postgres://reel@/reel?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql")

        for bad in ["postgres://reel@db/x?sslmode=sometimes", "postgres://reel@db/x?pool_size=0",
                    "postgres://reel@db/x?poolsize=3", "postgres://reel@/x", "postgres://reel@db:0/x",
                    "postgres://reel@/x?host=/run/postgresql&sslmode=require"] {
            #expect(throws: CatalogError.self, "\(bad)") { try PostgresURL(bad) }
        }
    }

    /// A password with characters a URL must escape (`#`, `/`, `?`, `@`, space) makes the URL unreadable:
    /// the error saying so must not print the password.
    @Test(arguments: ["hun#ter2", "hun/ter2", "hun?ter2", "hun ter2", "hun@ter2", "hun%zter2"])
    func anUnreadableURLDoesNotLeakItsPassword(_ password: String) throws {
        let url = "postgres://reel:\(password)@db.internal:5432/videos"
        var said = [PostgresURL.redacted(url)]
        do { said.append("\(try PostgresURL(url))") } catch { said.append("\(error)") }
        do { said.append(try CatalogConnector.sqlitePath("mysql://reel:\(password)@db/videos")) } catch { said.append("\(error)") }
        for text in said {
            #expect(!text.contains("hun") && !text.contains("ter2"), "\(text)")
        }
    }

    /// No server behind the URL: a clear error naming where it looked, not a hang.
    @Test func anUnreachableServerIsAClearError() async throws {
        let port = try freeLoopbackPort()
        do {
            _ = try await PostgresCatalog.connect(url: PostgresURL("postgres://reel@127.0.0.1:\(port)/reel?connect_timeout=2"),
                                                  logger: quietLogger)
            Issue.record("connected to nothing")
        } catch let error as CatalogError {
            guard case .unavailable(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("127.0.0.1:\(port)"), "\(why)")
        }
    }
}

/// A loopback port nobody listens on (bound, then released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw CatalogError.invalid("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
