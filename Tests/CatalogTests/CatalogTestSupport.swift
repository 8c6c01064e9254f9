import Foundation
import Logging
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

/// A catalog in a fresh temporary directory (a real SQLite file), removed when the fixture goes away.
final class CatalogFixture: Sendable {
    let directory: URL
    let path: String
    let clock = ManualClock()
    let catalog: SQLiteCatalog

    init(forceRollbackJournal: Bool = false, retryBaseDelay: TimeInterval = 2, retryMaxDelay: TimeInterval = 300) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-catalog-tests-\(UUID().uuidString.prefix(8))")
        path = directory.appendingPathComponent("var/reel.sqlite").path
        let clock = self.clock
        catalog = try SQLiteCatalog(
            path: path, forceRollbackJournal: forceRollbackJournal,
            options: .init(now: { clock.now }, retryBaseDelay: retryBaseDelay, retryMaxDelay: retryMaxDelay,
                           jitter: { 1.0 }),
            logger: Logger(label: "reel.catalog.tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Another catalog instance on the same file, sharing the clock: a second process, as far as
    /// SQLite can tell (its own connections, its own locks).
    func anotherInstance() throws -> SQLiteCatalog {
        let clock = self.clock
        return try SQLiteCatalog(path: path, options: .init(now: { clock.now }, jitter: { 1.0 }),
                                 logger: Logger(label: "reel.catalog.tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

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
