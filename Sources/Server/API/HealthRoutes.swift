import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Storage

/// `/healthz` (the process answers), `/readyz` (it can do its job) and `/metrics`.
struct HealthRoutes: Sendable {
    let catalog: any Catalog
    let layout: StorageLayout
    let minFreeBytes: Int64
    let metrics: ServerMetrics

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in try JSONResponse.make(["status": "alive"]) }
        router.get("/readyz") { _, _ in try await ready() }
        router.get("/metrics") { _, _ in
            let bytes = try await metrics.render(catalog: catalog, root: layout.root)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    private func ready() async throws -> Response {
        var checks: [String: String] = [:]
        do {
            _ = try await catalog.queueDepth()
            checks["catalog"] = "ok"
        } catch {
            checks["catalog"] = "catalog unreachable: \(error)"
        }
        let probe = layout.root.appendingPathComponent(".readyz-\(getpid())")
        if FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) {
            try? FileManager.default.removeItem(at: probe)
            checks["storage"] = "ok"
        } else {
            checks["storage"] = "cannot write to \(layout.root.path)"
        }
        if let free = DiskSpace.available(at: layout.root.path) {
            checks["disk"] = free >= minFreeBytes ? "ok" : "only \(free) bytes free (need \(minFreeBytes))"
        } else {
            checks["disk"] = "cannot read free space of \(layout.root.path)"
        }
        let ready = checks.values.allSatisfy { $0 == "ok" }
        return try JSONResponse.make(["status": ready ? "ready" : "not ready", "checks": checks],
                                     status: ready ? .ok : .serviceUnavailable)
    }
}
