import Foundation
import Logging
import ReelTestSupport
import Testing
@testable import Catalog

/// A clock the tests move by hand, so leases expire and backoffs pass without sleeping.
/// (`@unchecked` because an `NSLock` guards the one mutable field; `Mutex` would need macOS 15.)
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { current = start }

    var now: Date { lock.withLock { current } }

    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

/// The catalog implementations every contract test runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL when a test server is given (`scripts/test` starts one), and always in CI.
    static var available: [Backend] { TestPostgres.required ? [.sqlite, .postgres] : [.sqlite] }
}

let quietLogger = Logger(label: "reel.catalog.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// A catalog of its own: a real SQLite file in a fresh temporary directory, or a fresh database on the
/// test PostgreSQL server. The directory goes away with the fixture; the database with the cluster.
final class CatalogFixture: Sendable {
    let backend: Backend
    let directory: URL
    /// The SQLite file, or the PostgreSQL URL.
    let location: String
    let clock: ManualClock
    let catalog: any Catalog
    private let options: CatalogOptions

    /// - Parameter realTime: use the system clock instead of the manual one (for tests where leases
    ///   expire while workers run concurrently).
    /// `connectTimeout`: PostgreSQL's `connect_timeout` (how long a query waits for a pooled connection).
    /// 60 s by default, not the 10 s a real deployment uses: the suites share two cores with builds and
    /// other suites, and a first connection then waits longer (a CI run failed on it); longer still for
    /// tests that queue many queries on purpose.
    static func make(_ backend: Backend, forceRollbackJournal: Bool = false, retryBaseDelay: TimeInterval = 2,
                     retryMaxDelay: TimeInterval = 300, realTime: Bool = false,
                     connectTimeout: Int? = 60) async throws -> CatalogFixture {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        let clock = ManualClock()
        let now: @Sendable () -> Date
        if realTime { now = { Date() } } else { now = { clock.now } }
        let options = CatalogOptions(now: now, retryBaseDelay: retryBaseDelay, retryMaxDelay: retryMaxDelay,
                                     jitter: { 1.0 })
        switch backend {
        case .sqlite:
            let path = directory.appendingPathComponent("var/reel.sqlite").path
            let catalog = try SQLiteCatalog(path: path, forceRollbackJournal: forceRollbackJournal, options: options,
                                            logger: quietLogger)
            return CatalogFixture(backend, directory, path, clock, catalog, options)
        case .postgres:
            var url = try TestPostgres.createDatabase("catalog")
            if let connectTimeout { url += (url.contains("?") ? "&" : "?") + "connect_timeout=\(connectTimeout)" }
            let catalog = try await PostgresCatalog.connect(url: PostgresURL(url), options: options, logger: quietLogger)
            return CatalogFixture(backend, directory, url, clock, catalog, options)
        }
    }

    private init(_ backend: Backend, _ directory: URL, _ location: String, _ clock: ManualClock, _ catalog: any Catalog,
                 _ options: CatalogOptions) {
        self.backend = backend; self.directory = directory; self.location = location
        self.clock = clock; self.catalog = catalog; self.options = options
    }

    /// The SQLite catalog (for the tests of SQLite's own setup).
    var sqlite: SQLiteCatalog { catalog as! SQLiteCatalog }
    var path: String { location }

    /// Another catalog instance on the same database, sharing the clock: a second process, as far as
    /// the database can tell (its own connections, its own locks).
    func anotherInstance() async throws -> any Catalog {
        switch backend {
        case .sqlite: try SQLiteCatalog(path: location, forceRollbackJournal: sqlite.usesRollbackJournal, options: options,
                                        logger: quietLogger)
        case .postgres: try await PostgresCatalog.connect(url: PostgresURL(location), options: options, logger: quietLogger)
        }
    }

    /// This catalog and `count - 1` other instances on the same database.
    func instances(_ count: Int) async throws -> [any Catalog] {
        var all: [any Catalog] = [catalog]
        for _ in 1..<max(count, 1) { all.append(try await anotherInstance()) }
        return all
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
        (catalog as? PostgresCatalog)?.close()
    }

    @discardableResult
    func video(_ title: String = "clip", jobs: [NewJob]) async throws -> VideoRecord {
        try await catalog.createVideo(NewVideo(title: title, originalPath: "originals/\(title)/source.mp4", sizeBytes: 1234),
                                      jobs: jobs)
    }

    func claim(_ owner: String = "w1", lease: TimeInterval = 60, kinds: Set<JobKind>? = nil) async throws -> ClaimedJob? {
        try await catalog.claim(owner: owner, leaseDuration: lease, kinds: kinds)
    }

    func job(_ id: Int64) async throws -> JobRecord {
        try #require(try await catalog.job(id: id))
    }

    func video(id: String) async throws -> VideoRecord {
        try #require(try await catalog.video(id: id))
    }
}

/// Asserts that `body` throws `CatalogError.leaseLost` for `jobId`.
func expectLeaseLost(_ jobId: Int64, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): expected leaseLost", sourceLocation: sourceLocation)
    } catch let error as CatalogError {
        #expect(error == .leaseLost(jobId: jobId), "\(what)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): unexpected \(error)", sourceLocation: sourceLocation)
    }
}
