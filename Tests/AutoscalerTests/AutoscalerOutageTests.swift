import Catalog
import Foundation
import ReelTestSupport
import Testing

/// `reel autoscale` on PostgreSQL whose database goes away (connections ended, new ones refused, as
/// while a server restarts). Part of the serialized autoscaler-process suite.
extension AutoscalerProcessTests {
    @Test("the database away: the autoscaler holds its workers instead of reading an empty queue and scaling in",
          .enabled(if: TestPostgres.required))
    func holdsWhileTheQueueCannotBeRead() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let server = try #require(TestPostgres.serverURL)
        let url = try TestPostgres.createDatabase("scaler")
        let name = String(try #require(URLComponents(string: url)).path.dropFirst())
        // Quick to notice the outage, yet long enough for a first connection on a machine busy with other suites.
        let database = url + "?connect_timeout=3"
        let clip = try source("clip.mp4", seconds: 24)
        let ingested = try Tool.run(Paths.reel, ["ingest", "--json", "--data", root.path, "--database", database]
                                                + Array(repeating: clip, count: 3))
        #expect(ingested.status == 0, "\(ingested.stderr)")

        // Scale-in would be allowed a second after any change: only the queue keeps two workers.
        let scaler = try ReelProcess(["autoscale", "--data", root.path, "--database", database, "--profile", "small",
                                      "--min-workers", "1", "--max-workers", "2", "--backlog-per-worker", "1",
                                      "--scale-out-cooldown", "1s", "--scale-in-cooldown", "1s", "--warmup", "1s",
                                      "--cpu-window", "2s", "--autoscale-interval", "0.5s",
                                      "--worker-option=--chunk-seconds=4", "--worker-option=--lease=30"],
                                     label: "autoscale-outage")
        let grown = await eventually(timeout: 120) { scaler.output.contains("scale-out to 2 workers") }
        #expect(grown, "\(scaler.output.suffix(2000))")

        let before = scaler.output.count
        try TestPostgres.psql(server, """
            ALTER DATABASE \(name) ALLOW_CONNECTIONS false;
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\(name)';
            """)
        // Until it has noticed, either way, then a few of its half-second rounds more.
        let noticed = await eventually(timeout: 60) {
            let since = scaler.output.dropFirst(before)
            return since.contains("cannot read the queue") || since.contains("scale-in to")
        }
        try await Task.sleep(for: .seconds(4))
        let during = String(scaler.output.dropFirst(before))
        try TestPostgres.psql(server, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        #expect(noticed, "\(during.suffix(2000))")
        #expect(!during.contains("scale-in to"), "scaled in while the queue could not be read:\n\(during.suffix(3000))")

        scaler.signal(SIGTERM)
        #expect(await scaler.wait(timeout: 90) == 0, "\(scaler.output.suffix(2000))")
    }
}
