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
    /// Knobs that tests (and operators) may change. All are fixed for the catalog's lifetime.
    public struct Options: Sendable {
        /// The clock. Tests inject one they can move instead of sleeping.
        public var now: @Sendable () -> Date
        /// Retry backoff: `min(retryBaseDelay × 2^(attempt−1), retryMaxDelay) × jitter()`.
        public var retryBaseDelay: TimeInterval
        public var retryMaxDelay: TimeInterval
        /// A factor in [0.5, 1] by default ("equal jitter"), so retries of many jobs that failed together
        /// spread out instead of returning in lockstep.
        public var jitter: @Sendable () -> Double
        /// How long a write waits for another connection's lock before failing with SQLITE_BUSY. Generous:
        /// on a loaded 2-core host, with a rollback journal and many workers, seconds pass between turns.
        public var busyTimeout: TimeInterval

        public init(now: @escaping @Sendable () -> Date = { Date() },
                    retryBaseDelay: TimeInterval = 2,
                    retryMaxDelay: TimeInterval = 300,
                    jitter: @escaping @Sendable () -> Double = { Double.random(in: 0.5...1.0) },
                    busyTimeout: TimeInterval = 30) {
            self.now = now
            self.retryBaseDelay = retryBaseDelay
            self.retryMaxDelay = retryMaxDelay
            self.jitter = jitter
            self.busyTimeout = busyTimeout
        }
    }

    /// The database file.
    public let path: String
    /// What `statfs` said about the database's directory.
    public let filesystem: FilesystemKind
    /// True when the catalog uses a rollback journal instead of WAL (network filesystem, or forced).
    public let usesRollbackJournal: Bool
    public let options: Options
    let writer: any DatabaseWriter
    let logger: Logger

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
        try Self.migrate(writer)
    }

    /// Opens a catalog by URL: `sqlite:///absolute/path.sqlite` or a plain path. PostgreSQL will follow.
    public static func open(url: String, logger: Logger = Logger(label: "reel.catalog")) throws -> any Catalog {
        let lowered = url.lowercased()
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            throw CatalogError.invalid("PostgreSQL support is coming; use a SQLite path")
        }
        if lowered.hasPrefix("sqlite:") {
            var rest = String(url.dropFirst("sqlite:".count))
            if rest.hasPrefix("//") { rest.removeFirst(2) }
            let path = rest.removingPercentEncoding ?? rest
            guard path.hasPrefix("/") else {
                throw CatalogError.invalid("catalog URL \(url): write sqlite:///absolute/path (three slashes) or a plain path")
            }
            return try SQLiteCatalog(path: path, logger: logger)
        }
        if let scheme = url.range(of: "://") {
            throw CatalogError.invalid("catalog URL \(url): unsupported scheme \(url[..<scheme.lowerBound]); use a SQLite path")
        }
        guard !url.isEmpty else { throw CatalogError.invalid("catalog URL is empty") }
        return try SQLiteCatalog(path: url, logger: logger)
    }

    /// The journal mode SQLite reports: "wal" normally, "delete" with a rollback journal.
    public var journalMode: String {
        get throws {
            try writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "unknown" }
        }
    }

    /// Runs the migrations. Several processes may open a fresh file at once: each migration is its own
    /// immediate transaction, so a loser's attempt rolls back whole and it finds the work done.
    private static func migrate(_ writer: any DatabaseWriter) throws {
        let migrator = SQLiteSchema.migrator
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

    /// The retry delay after failed attempt number `attempt` (1-based): `min(base × 2^(attempt−1), cap) × jitter`.
    /// The cap applies before the jitter, so capped retries still spread over [cap/2, cap].
    public static func backoff(attempt: Int, base: TimeInterval, cap: TimeInterval, jitter: Double) -> TimeInterval {
        let exponent = Double(max(attempt, 1) - 1)
        let raw = base * pow(2, min(exponent, 62))
        return min(raw, cap) * jitter
    }
}
