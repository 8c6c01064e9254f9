import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Storage

/// `/healthz` (the process answers), `/readyz` (it can do its job) and `/metrics`.
///
/// `/healthz` and `/readyz`'s status are for load balancers and need no key. What is behind them — the
/// metrics (which run catalog queries and name the hosts' workers) and the reasons in `/readyz`'s
/// `checks` (paths, free bytes, catalog errors) — is for admin keys only, unless `metricsPublic`.
struct HealthRoutes: Sendable {
    let catalog: any Catalog
    let layout: StorageLayout
    let minFreeBytes: Int64
    let metrics: ServerMetrics
    let auth: Authenticator
    let metricsPublic: Bool

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in API.Liveness() }
        // With `metricsPublic` no key is read at all.
        let anyone = metricsPublic ? router.group() : router.group().add(middleware: OptionalKey(auth: auth))
        anyone.get("/readyz") { _, context in try await ready(detail: metricsPublic || context.key?.scope == .admin) }
        let admins = metricsPublic ? router.group() : router.group().add(middleware: RequireKey(auth: auth, scope: .admin))
        admins.get("/metrics") { _, _ in
            let bytes = try await metrics.render(catalog: catalog, layout: layout)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// 200 or 503 for everyone; the `checks` only with `detail`.
    private func ready(detail: Bool) async throws -> EditedResponse<API.Readiness> {
        var checks = API.Readiness.Checks(catalog: "ok", storage: "ok", disk: "ok")
        // A database that is away must make this node "not ready" before the balancer's check times out,
        // not after the catalog's own connection timeout.
        let catalog = self.catalog
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { _ = try await catalog.queueDepth(); return true }
                group.addTask { try await Task.sleep(for: .seconds(3)); return false }
                let answered = try await group.next() ?? false
                group.cancelAll()
                if !answered { checks.catalog = "catalog did not answer within 3 s" }
            }
        } catch {
            checks.catalog = "catalog unreachable: \(error)"
        }
        let probe = layout.readinessProbeFile()
        if FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) {
            try? FileManager.default.removeItem(at: probe)
        } else {
            checks.storage = "cannot write to \(layout.root.path)"
        }
        if let free = DiskSpace.available(at: layout.root.path) {
            if free < minFreeBytes { checks.disk = "only \(free) bytes free (need \(minFreeBytes))" }
        } else {
            checks.disk = "cannot read free space of \(layout.root.path)"
        }
        let ready = [checks.catalog, checks.storage, checks.disk].allSatisfy { $0 == "ok" }
        return EditedResponse(status: ready ? .ok : .serviceUnavailable,
                              response: API.Readiness(status: ready ? "ready" : "not ready", checks: detail ? checks : nil))
    }
}
