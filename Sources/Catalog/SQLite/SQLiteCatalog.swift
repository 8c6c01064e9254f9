import Foundation
import GRDB
import Logging
import Storage

/// The catalog in one SQLite file, through GRDB.
///
/// - On a local disk: a `DatabasePool` in WAL mode (readers never block the writer), `synchronous=NORMAL`.
/// - On a network filesystem (see `FilesystemKind`): a `DatabaseQueue` with a rollback journal
///   (`journal_mode=DELETE`), because WAL's index lives in shared memory that hosts cannot share.
/// - Every write runs in a `BEGIN IMMEDIATE` transaction: the write lock is taken before anything is
///   read, so two processes can never both see the same job as claimable. Waiting for the lock is
///   bounded by `busy_timeout`.
///
/// Several `SQLiteCatalog` instances (in one process or many) may open the same file.
public final class SQLiteCatalog: Catalog {
    /// The clock, retry backoff and lock waits (shared with `PostgresCatalog`).
    public typealias Options = CatalogOptions

    /// The database file.
    public let path: String
    /// What `statfs` said about the database's directory.
    public let filesystem: FilesystemKind
    /// True when the catalog uses a rollback journal instead of WAL (network filesystem, or forced).
    public let usesRollbackJournal: Bool
    public let options: Options
    let writer: any DatabaseWriter
    let logger: Logger
    /// Wakes the idle workers of every process on this database when work appears.
    let wake: WakeFile

    /// Opens (creating if needed, with its parent directories) and migrates the catalog at `path`.
    ///
    /// - Parameter forceRollbackJournal: use the network-filesystem setup (a rollback journal) even on a
    ///   local disk; for tests, and for operators who know better than `statfs`.
    public init(path: String, forceRollbackJournal: Bool = false, options: Options = Options(),
                logger: Logger = Logger(label: "reel.catalog")) throws {
        let absolute = URL(fileURLWithPath: NSString(string: path).expandingTildeInPath).standardizedFileURL
        let directory = absolute.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        self.path = absolute.path
        self.filesystem = FilesystemKind.of(path: directory.path)
        self.usesRollbackJournal = forceRollbackJournal || filesystem.isNetwork
        self.options = options
        self.logger = logger
        self.wake = WakeFile(databasePath: absolute.path, logger: logger)

        var config = Configuration()
        config.label = "reel.catalog"
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(options.busyTimeout)

        if usesRollbackJournal {
            if case let .network(name) = filesystem {
                logger.warning("""
                    catalog \(absolute.path) is on a network filesystem (\(name)): SQLite's WAL mode is unsafe \
                    there, using a rollback journal instead (slower under concurrent writers). Run every \
                    process of this catalog on one host; to scale out over several hosts, use PostgreSQL.
                    """)
            } else {
                logger.notice("catalog \(absolute.path): rollback journal forced (journal_mode=DELETE)")
            }
            let shownPath = absolute.path
            config.prepareDatabase { db in
                // Leaves WAL if the file was in it. That fails while another connection still holds the
                // file open in WAL mode, and then this connection would silently run in WAL: refuse.
                let refusal = """
                    catalog \(shownPath) cannot leave WAL mode for a rollback journal: another process \
                    still has it open in WAL mode; stop it and try again
                    """
                let mode: String?
                do {
                    mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                    throw CatalogError.invalid(refusal)
                }
                guard mode?.lowercased() == "delete" else { throw CatalogError.invalid(refusal) }
            }
            writer = try DatabaseQueue(path: absolute.path, configuration: config)
        } else {
            writer = try DatabasePool(path: absolute.path, configuration: config)
        }
        try Self.migrate(writer, path: absolute.path)
    }

    /// The journal mode SQLite reports: "wal" normally, "delete" with a rollback journal.
    public var journalMode: String {
        get throws {
            try writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "unknown" }
        }
    }

    /// Runs the migrations. Several processes may open a fresh file at once: each migration is its own
    /// immediate transaction, so a loser's attempt rolls back whole and it finds the work done.
    private static func migrate(_ writer: any DatabaseWriter, path: String) throws {
        let migrator = SQLiteSchema.migrator
        // A newer Reel added migrations this build does not know: its tables may mean something else now.
        if try writer.read(migrator.hasBeenSuperseded) {
            let unknown = try writer.read { db in
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
            }.filter { !migrator.migrations.contains($0) }
            throw CatalogError.invalid("""
                catalog \(path) has schema migrations this build of Reel does not know (\(unknown.joined(separator: ", "))): \
                a newer Reel migrated it. Upgrade this node instead of running it against that schema.
                """)
        }
        var attempts = 0
        while true {
            do {
                try migrator.migrate(writer)
                return
            } catch {
                attempts += 1
                if try writer.read(migrator.hasCompletedMigrations) { return }
                if attempts >= 3 { throw error }
            }
        }
    }

    // MARK: - Transactions

    /// One `BEGIN IMMEDIATE … COMMIT`; any error rolls everything back.
    func immediate<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    // MARK: - Waiting for work

    /// Inside a transaction that makes a job runnable now: once it commits, the idle workers of every
    /// process on this database wake (see `WakeFile`).
    func announceWork(_ db: Database) {
        let wake = self.wake
        db.afterNextTransaction(onCommit: { _ in wake.ring() })
    }

    public func waitForWork(timeout: Duration) async -> Bool {
        await wake.wait(timeout: timeout)
    }
}

// MARK: - Backups

extension SQLiteCatalog {
    /// Copies the whole database to a new file at `path` with SQLite's online backup API, in one step
    /// inside one read transaction, and returns the videos as of that same instant: a consistent
    /// snapshot while writers go on (in WAL mode they are not blocked; with a rollback journal they wait
    /// for the copy).
    public func snapshot(to path: String) async throws -> [VideoRecord] {
        let destination = try DatabaseQueue(path: path)
        let videos = try await read { db -> [VideoRecord] in
            try destination.writeWithoutTransaction { copy in try db.backup(to: copy) }
            return try VideoRecord.fetchAll(db, sql: "SELECT * FROM videos ORDER BY created_at, id")
        }
        try destination.close()
        return videos
    }
}
