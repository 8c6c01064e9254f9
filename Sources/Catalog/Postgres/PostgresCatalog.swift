import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The catalog on a PostgreSQL server (postgres-nio), for several Reel hosts sharing one queue.
///
/// The same contract as `SQLiteCatalog`, with PostgreSQL's own tools for what SQLite's single write
/// lock gave for free:
/// - Claims pick with `FOR UPDATE SKIP LOCKED`: concurrent workers each get a different job without
///   waiting on one another.
/// - Every write about a job locks the job's row (fencing by id + attempt + owner + running), then its
///   video's row (a claim only when it changes the video: the first claim, or a reclaim that takes a
///   job's progress back). The video row lock serialises what must not interleave for one video: siblings
///   completing (the last one wakes the parent), progress, and playlist publication (the publish lock).
///   Locks are always taken in that order — job, video, other jobs — so transactions do not deadlock;
///   should the server still report a deadlock or a serialization failure, the transaction is retried.
/// - Times come from `options.now` (not the server's clock), as with SQLite, so tests can move time.
public final class PostgresCatalog: Catalog {
    public let url: PostgresURL
    public let options: CatalogOptions
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    /// Wakes this process's idle workers when any host announces work.
    private let listener: PostgresWorkListener

    /// Connects, and migrates the schema (once, under an advisory lock, however many nodes start together).
    /// Refuses a database whose schema is newer than this build knows.
    public static func connect(url: PostgresURL, options: CatalogOptions = CatalogOptions(),
                               logger: Logger = Logger(label: "reel.catalog")) async throws -> PostgresCatalog {
        let catalog = try PostgresCatalog(url: url, options: options, logger: logger)
        do {
            try await catalog.migrate()
        } catch {
            catalog.close()
            throw error
        }
        return catalog
    }

    private init(url: PostgresURL, options: CatalogOptions, logger: Logger) throws {
        self.url = url
        self.options = options
        self.logger = logger
        var configuration: PostgresClient.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.user,
                                  password: url.password, database: url.database)
        } else {
            configuration = .init(host: url.host, port: url.port, username: url.user, password: url.password,
                                  database: url.database, tls: try Self.tls(url))
        }
        configuration.options.maximumConnections = url.poolSize
        configuration.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        // Bounds the server keeps for us: no statement runs, waits for a lock, or sits idle inside a
        // transaction (holding row locks, e.g. after this process froze) for longer than a minute.
        configuration.options.additionalStartupParameters = [
            ("application_name", url.applicationName),
            ("statement_timeout", "60000"),
            ("lock_timeout", "30000"),
            ("idle_in_transaction_session_timeout", "60000"),
        ]
        // The pool logs every failed connection attempt while a server is away; callers get one error.
        var poolLogger = logger
        poolLogger.logLevel = .critical
        client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        let client = self.client
        runner = Task { await client.run() }
        listener = PostgresWorkListener(url: url, logger: logger)
    }

    /// Closes the pool and the listening connection. Queries after this fail; waits for work time out.
    public func close() {
        listener.close()
        runner.cancel()
    }

    deinit { close() }

    public func waitForWork(timeout: Duration) async -> Bool {
        await listener.wait(timeout: timeout)
    }

    static func tls(_ url: PostgresURL) throws -> PostgresClient.Configuration.TLS {
        guard let (configuration, required) = try tlsSetup(url) else { return .disable }
        return required ? .require(configuration) : .prefer(configuration)
    }

    /// What `sslmode` asks for: no TLS (nil), or TLS set up so, required or only preferred.
    static func tlsSetup(_ url: PostgresURL) throws -> (configuration: TLSConfiguration, required: Bool)? {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let roots = url.sslRootCert { tls.trustRoots = .file(roots) }
        switch url.sslMode {
        case .disable: return nil
        case .prefer:
            tls.certificateVerification = .none
            return (tls, false)
        case .require:
            tls.certificateVerification = .none
            return (tls, true)
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return (tls, true)
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            return (tls, true)
        }
    }

    // MARK: - Transactions

    /// Runs `body` in one transaction (READ COMMITTED, with explicit row locks). Any error rolls it back.
    /// Deadlocks and serialization failures are retried a few times; other server errors and lost
    /// connections become `CatalogError.unavailable` with what the server said.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        let logger = self.logger
        while true {
            attempt += 1
            do {
                return try await leased { connection in
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        let value = try await body(connection)
                        try await connection.query("COMMIT", logger: logger)
                        return value
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            } catch let error as PSQLError {
                let state = error.serverInfo?[.sqlState]
                if attempt < 6, state == "40P01" || state == "40001" {
                    logger.debug("catalog transaction retried (SQLSTATE \(state ?? "?")), attempt \(attempt)")
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...20) * attempt))
                    continue
                }
                throw unavailable(error)
            }
        }
    }

    /// One statement outside a transaction (reads, and single-statement writes).
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let logger = self.logger
        do {
            return try await leased { connection in try await Self.collect(connection.query(query, logger: logger)) }
        } catch let error as PSQLError {
            throw unavailable(error)
        }
    }

    /// One prepared statement outside a transaction.
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        let logger = self.logger
        do {
            return try await leased { connection in try await connection.all(statement, logger) }
        } catch let error as PSQLError {
            throw unavailable(error)
        }
    }

    /// Runs `body` on a connection of the pool. While the server is down the pool keeps trying to
    /// connect, and a request would wait for it (up to a minute, then fail); a caller here waits at most
    /// `connect_timeout` for a connection, so that `/readyz` and API requests answer "unavailable" promptly.
    /// Once `body` runs, it is not timed (a long transaction is the server's business).
    func leased<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let started = Started()
        let timeout = Duration.seconds(url.connectTimeout)
        let place = "\(url)"
        let client = self.client
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        started.mark()
                        do { return try await body(connection) } catch { throw FromBody(error: error) }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    if !started.marked {
                        throw CatalogError.unavailable("PostgreSQL \(place): no connection within \(timeout) — is the server running and reachable?")
                    }
                    return nil
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw CancellationError()
            }
        } catch let wrapped as FromBody {
            throw wrapped.error
        } catch let error as CatalogError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The pool's own errors (circuit breaker open, shut down).
            throw CatalogError.unavailable("PostgreSQL \(place): \(error)")
        }
    }

    static func collect(_ sequence: PostgresRowSequence) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in sequence { rows.append(row) }
        return rows
    }

    /// What the server (or the lack of one) said, without the query's values. A value the server refuses
    /// (SQLSTATE classes 22, data exception, and 23, integrity constraint) is `invalid`, not `unavailable`:
    /// waiting for the database to come back would not change the answer.
    func unavailable(_ error: PSQLError) -> CatalogError {
        if let info = error.serverInfo {
            let code = info[.sqlState] ?? "?"
            let said = "PostgreSQL \(url): \(info[.message] ?? "error") (SQLSTATE \(code))"
            return code.hasPrefix("22") || code.hasPrefix("23") ? .invalid(said) : .unavailable(said)
        }
        return .unavailable("PostgreSQL \(url): \(error.code) — is the server running and reachable?")
    }
}

/// An error thrown by the work done on a connection, told apart from the pool's own.
private struct FromBody: Error {
    var error: any Error
}

/// Whether a pooled connection was handed over yet.
private final class Started: Sendable {
    private let flag = Mutex(false)
    func mark() { flag.withLock { $0 = true } }
    var marked: Bool { flag.withLock { $0 } }
}

extension PostgresConnection {
    /// Runs `query` and returns every row.
    @discardableResult
    func all(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await PostgresCatalog.collect(self.query(query, logger: logger))
    }

}
