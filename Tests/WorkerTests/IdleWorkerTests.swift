import Catalog
import Foundation
import Logging
import Profiles
import ReelTestSupport
import Storage
import Synchronization
import Testing
import Worker

/// An idle worker waits for the catalog to announce work rather than polling for it: a video registered
/// elsewhere (by the server, another process) starts at once, not at the next poll; a stop ends the wait.
@Suite("Idle workers")
struct IdleWorkerTests {
    static var backends: [String] { TestPostgres.required ? ["sqlite", "postgres"] : ["sqlite"] }

    /// How many times the worker went round its loop (it shows it is alive at every claim).
    final class Rounds: Sendable {
        private let count = Atomic(0)
        func add() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    /// A worker polling once a minute, idle on an empty catalog, and a second catalog instance (the server's,
    /// in another process) on the same database.
    struct IdleWorker {
        let layout: StorageLayout
        let workerCatalog: any Catalog
        let serverCatalog: any Catalog
        let stop = StopSignal()
        let task: Task<Int, Never>
        let idle: Bool

        init(_ backend: String, root: URL) async throws {
            layout = StorageLayout(root: root)
            let url = backend == "sqlite" ? layout.catalogPath : try TestPostgres.createDatabase("idle")
            let quiet = Logger(label: "reel.tests", factory: { _ in SwiftLogNoOpLogHandler() })
            workerCatalog = try await CatalogConnector.open(url: url, logger: quiet)
            serverCatalog = try await CatalogConnector.open(url: url, logger: quiet)
            var settings = WorkerSettings(layout: layout, profile: try ProfileLoader.load(path: Paths.profile("small")))
            settings.pollInterval = 60
            settings.drainTimeout = 5
            let rounds = Rounds()
            settings.alive = { rounds.add() }
            let (catalog, stop) = (workerCatalog, self.stop)
            task = Task { [settings] in await Worker(settings: settings, catalog: catalog, logger: quiet).run(stop: stop) }
            // Round 1 finds nothing and starts listening (that wait returns once it listens); round 2 finds
            // nothing and waits, a minute before it would look again.
            idle = await eventually(timeout: 30) { rounds.value >= 2 }
        }

        func close() {
            for catalog in [workerCatalog, serverCatalog] { (catalog as? PostgresCatalog)?.close() }
        }
    }

    @Test("an idle worker that polls once a minute starts a newly registered video at once", arguments: backends)
    func wakesForNewVideo(_ backend: String) async throws {
        let root = try Paths.temporaryDirectory("idle-\(backend)")
        defer { try? FileManager.default.removeItem(at: root) }
        let worker = try await IdleWorker(backend, root: root)
        defer { worker.close() }
        #expect(worker.idle, "the worker never went idle")

        let video = try await Ingest.register(file: URL(fileURLWithPath: Paths.fixture("landscape.mp4")), title: nil,
                                              layout: worker.layout, catalog: worker.serverCatalog)
        let started = try await eventually(timeout: 30) {
            try await worker.serverCatalog.jobs(videoId: video.id, states: nil, limit: 10).contains { $0.kind == .plan && $0.attempt > 0 }
        }
        worker.stop.request()
        _ = await worker.task.value
        #expect(started, "the plan job was not claimed before the poll")
    }

    @Test("a stop ends an idle worker's wait at once", arguments: backends)
    func stopEndsTheWait(_ backend: String) async throws {
        let root = try Paths.temporaryDirectory("idle-stop-\(backend)")
        defer { try? FileManager.default.removeItem(at: root) }
        let worker = try await IdleWorker(backend, root: root)
        defer { worker.close() }
        #expect(worker.idle, "the worker never went idle")

        let asked = ContinuousClock.now
        worker.stop.request()
        #expect(await worker.task.value == 0)
        #expect(ContinuousClock.now - asked < .seconds(30), "the worker slept until its poll")
    }
}
