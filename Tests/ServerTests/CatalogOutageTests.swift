import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ReelTestSupport
import Storage
import Testing
@testable import Server

/// The router over a real PostgreSQL catalog whose database goes away under it (dropped with its
/// connections, as a restart or failover ends them): clients get 503 with Retry-After — "try again" —
/// never 500, and `/readyz` says not ready, with a key or without.
@Suite("Catalog outage")
struct CatalogOutageTests {
    @Test(.enabled(if: TestPostgres.required)) func databaseAwayIsServiceUnavailable() async throws {
        let url = try TestPostgres.createDatabase("outage")
        let name = String(try #require(URLComponents(string: url)).path.dropFirst())
        // Long enough for a first connection on a machine busy with every other suite (2 s was seen to be too
        // short), short enough that each request after the drop gives up soon.
        let catalog = try await PostgresCatalog.connect(url: PostgresURL(url + "?connect_timeout=5"))
        defer { catalog.close() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("reel-outage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let (secret, hash) = Authenticator.newKey()
        _ = try await catalog.createAPIKey(name: "admin", scope: .admin, secretHash: hash)
        let settings = ServerSettings(layout: StorageLayout(root: root), profilesDirectory: root, minFreeBytes: 0,
                                      signingKey: Array("0123456789abcdef".utf8))
        let dependencies = try ServerDependencies(settings: settings, catalog: catalog, metrics: ServerMetrics(),
                                                  logger: Logger(label: "outage-tests"))
        let app = Application(router: try buildRouter(dependencies))
        let admin: HTTPFields = [.authorization: "Bearer \(secret)"]

        try await app.test(.router) { client in
            // Ready once the catalog answers within /readyz's 3 s, which a machine busy with every other suite
            // can miss once.
            #expect(try await eventually(timeout: 30) { try await client.execute(uri: "/readyz", method: .get).status == .ok })
            #expect(try await client.execute(uri: "/v1/videos", method: .get, headers: admin).status == .ok)

            try TestPostgres.psql(try #require(TestPostgres.serverURL), "DROP DATABASE \(name) WITH (FORCE)")

            for (uri, headers) in [("/v1/videos", admin), ("/v1/videos/00000000-0000-0000-0000-000000000000", [:]),
                                   ("/readyz", admin)] {
                let response = try await client.execute(uri: uri, method: .get, headers: headers)
                let problem = try RouterTests.problem(response, 503)
                #expect(response.headers[.retryAfter] == "5", "\(uri)")
                let detail = try #require(problem["detail"] as? String)
                #expect(detail.contains("catalog cannot be reached"), "\(uri): \(detail)")
                #expect(!detail.contains(name), "\(uri): the database's name is for the log, not for clients")
            }
            // Without a key, /readyz runs its own checks: not ready, in its own shape.
            let anonymous = try await client.execute(uri: "/readyz", method: .get)
            #expect(anonymous.status == .serviceUnavailable)
            #expect(try RouterTests.json(anonymous)["status"] as? String == "not ready")
        }
    }
}
