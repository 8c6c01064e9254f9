import Catalog
import Foundation
import ReelTestSupport
import Testing

/// A worker on PostgreSQL whose database goes away while it encodes (connections ended, new ones
/// refused, as while a server restarts) and comes back. Part of the serialized worker-process suite.
extension WorkerProcessTests {
    @Test("the database away when a piece ends: the worker records it once the database is back; no piece runs twice",
          .enabled(if: TestPostgres.required))
    func databaseAwayWhenAPieceEnds() async throws {
        let s = try Setup("outage")
        defer { s.cleanUp() }
        let server = try #require(TestPostgres.serverURL)
        let url = try TestPostgres.createDatabase("outage")
        let name = String(try #require(URLComponents(string: url)).path.dropFirst())
        // Requests give up on the pool after 4 s instead of 10, so the outage is noticed quickly (2 s can be too
        // short for a first connection while other suites load the machine).
        let database = ["--database", url + "?connect_timeout=4"]
        // A 1080p source whose 2 s chunks take seconds each: the test must see one running, also on a loaded
        // machine (with the small landscape fixture, every chunk could finish between two looks).
        let ingested = try Tool.run(Paths.reel, ["ingest", "--json"] + s.data + database + [try s.makeSource(seconds: 8)])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        let id = try #require(try JSONDecoder.iso.decode([VideoRecord].self, from: Data(ingested.stdout.utf8)).first?.id)
        // The test's own view of the catalog is patient: only the worker's short timeout is under test, and a
        // reconnect after the outage can take seconds on a loaded machine.
        let catalog = try await PostgresCatalog.connect(url: PostgresURL(url + "?connect_timeout=30"))
        defer { catalog.close() }
        // Connected before the worker starts: a first connection that takes seconds on a loaded machine must
        // not let every chunk run by unseen.
        _ = try await catalog.jobs(videoId: id, states: nil, limit: 1)

        // A short lease: without care, a piece whose end could not be recorded comes back 3 s later.
        let worker = try s.worker(database + ["--chunk-seconds", "2", "--lease", "3", "--heartbeat", "0.5"], label: "outage")
        defer { worker.signal(SIGKILL) }
        let busy = try await eventually(timeout: 120) {
            try await catalog.jobs(videoId: id, states: [.running], limit: 10).contains { $0.kind == .videoChunk }
        }
        #expect(busy, "the worker never started a chunk: \(worker.output.suffix(1500))")

        try TestPostgres.psql(server, """
            ALTER DATABASE \(name) ALLOW_CONNECTIONS false;
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\(name)';
            """)
        // Until the running piece has ended and the worker tried to record how (either way).
        let ended = await eventually(timeout: 120) {
            let log = worker.output
            return log.contains("could not record") || log.contains("the catalog is unavailable")
        }
        try TestPostgres.psql(server, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        #expect(ended, "no piece ended while the database was away: \(worker.output.suffix(2000))")

        // Ready, and the downloads job that follows (small.yaml offers downloads) done too. A look that fails
        // while the database comes back is just not yet.
        let ready = await eventually(timeout: 180) {
            guard let pending = try? await catalog.jobs(videoId: id, states: [.queued, .running], limit: 10),
                  let video = try? await catalog.video(id: id) else { return false }
            return video.state == .ready && !pending.contains { $0.kind == .downloads }
        }
        #expect(ready, "\(worker.output.suffix(2000))")
        for job in try await catalog.jobs(videoId: id, states: nil, limit: 100) {
            #expect(job.state == .succeeded && job.attempt == 1,
                    "job \(job.id) \(job.kind): \(job.state), attempt \(job.attempt) (\(job.lastError ?? "-"))\n\(worker.output.suffix(2500))")
        }
        // Each piece was claimed, and so encoded, once.
        let claims = worker.output.split(separator: "\n").compactMap { line -> Substring? in
            guard let range = line.range(of: "] claimed ") else { return nil }
            return line[range.upperBound...].split(separator: ",").first
        }
        #expect(Set(claims).count == claims.count, "a piece was claimed again: \(claims)")
        #expect(try FFprobe.decodeErrors(s.master(id)) == "")
    }
}
