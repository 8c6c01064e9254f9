import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// How the catalogs of a fleet, on any host, learn that work appeared: every transaction that makes a job
/// runnable sends `NOTIFY reel_work` (delivered when it commits), and a process waiting for work LISTENs
/// on one connection of its own, outside the pool, started by its first wait.
///
/// Should that connection drop (the server restarting, failing over), it is opened again with backoff;
/// meanwhile waits end at their timeout (the worker's poll), and once listening again the bell rings,
/// since notifications sent in between are lost. A connection that stops answering is noticed by a
/// ping. `close()` ends it all.
final class PostgresWorkListener: Sendable {
    static let channel = "reel_work"
    /// How often the listening connection is checked, and how long the check may take.
    static let pingInterval = Duration.seconds(30)
    static let pingTimeout = Duration.seconds(10)

    private let bell = WorkBell()
    private let url: PostgresURL
    private let logger: Logger
    private let state = Mutex<Listening>(.idle)

    private enum Listening {
        case idle
        case running(Task<Void, Never>)
        case closed
    }

    init(url: PostgresURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    deinit { close() }

    /// True when work was announced (see `Catalog.waitForWork`). The first wait starts listening and
    /// returns as soon as the server listens for this process.
    func wait(timeout: Duration) async -> Bool {
        start()
        return await bell.wait(timeout: timeout)
    }

    /// Stops listening and closes the connection; later waits only time out.
    func close() {
        let task: Task<Void, Never>? = state.withLock { state in
            defer { state = .closed }
            if case let .running(task) = state { return task }
            return nil
        }
        task?.cancel()
    }

    private func start() {
        state.withLock { state in
            guard case .idle = state else { return }
            let (url, bell, logger) = (self.url, self.bell, self.logger)
            state = .running(Task.detached { await Self.listen(url: url, bell: bell, logger: logger) })
        }
    }

    /// Connects, listens, rings on every notification; on any failure waits (1 s, doubling up to 30 s)
    /// and starts again, until cancelled.
    private static func listen(url: PostgresURL, bell: WorkBell, logger: Logger) async {
        var pause = Duration.seconds(1)
        var failing = false
        while !Task.isCancelled {
            do {
                let connection = try await connect(url)
                pause = .seconds(1)
                let recovering = failing
                failing = false
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            try await connection.listen(on: channel) { notifications in
                                if recovering { logger.notice("listening for new work on PostgreSQL \(url) again") }
                                bell.ring()
                                for try await _ in notifications { bell.ring() }
                            }
                            throw CatalogError.unavailable("PostgreSQL \(url) stopped sending notifications")
                        }
                        group.addTask { try await ping(connection, logger) }
                        try await group.next()
                        group.cancelAll()
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                if !failing {
                    logger.warning("""
                        cannot listen for new work on PostgreSQL \(url) (\(error)); idle workers poll for it \
                        until the connection is back
                        """)
                } else {
                    logger.debug("listening for new work on PostgreSQL \(url) failed again: \(error)")
                }
                failing = true
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(30))
        }
    }

    /// Checks the connection every `pingInterval`; throws when a check fails or takes longer than
    /// `pingTimeout` (a server that vanished without closing the connection never answers).
    private static func ping(_ connection: PostgresConnection, _ logger: Logger) async throws {
        while true {
            try await Task.sleep(for: pingInterval)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await connection.query("SELECT 1", logger: logger)
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: pingTimeout)
                    return false
                }
                let answered = try await group.next() ?? false
                group.cancelAll()
                if !answered { throw CatalogError.unavailable("no answer to a ping within \(pingTimeout)") }
            }
        }
    }

    /// A connection of its own, set up as the pool's are (socket or host, TLS, `connect_timeout`).
    private static func connect(_ url: PostgresURL) async throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.user,
                                  password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch try PostgresCatalog.tlsSetup(url) {
            case nil: tls = .disable
            case let (configuration, required)?:
                let context = try NIOSSLContext(configuration: configuration)
                tls = required ? .require(context) : .prefer(context)
            }
            configuration = .init(host: url.host, port: url.port, username: url.user, password: url.password,
                                  database: url.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        configuration.options.additionalStartupParameters = [("application_name", url.applicationName)]
        var quiet = Logger(label: "reel.catalog.listener")
        quiet.logLevel = .critical
        return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quiet)
    }
}
