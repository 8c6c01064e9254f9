import Catalog
import Foundation
import Hummingbird
import Logging
import NIOCore
import Storage
import Testing
@testable import Server

/// `UploadStore` on a real storage root and catalog in a temporary directory.
@Suite("Upload store")
struct UploadStoreTests {
    let root: URL
    let catalog: SQLiteCatalog

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reel-uploads-\(UUID().uuidString)")
        catalog = try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path)
    }

    func store(_ settings: (inout ServerSettings) -> Void = { _ in }) -> UploadStore {
        var values = ServerSettings(layout: StorageLayout(root: root), profilesDirectory: root, minFreeBytes: 0,
                                    signingKey: Array("0123456789abcdef".utf8))
        settings(&values)
        return UploadStore(layout: values.layout, catalog: catalog, settings: values, metrics: ServerMetrics(),
                           logger: Logger(label: "test"))
    }

    func chunk(_ count: Int) -> RequestBody { RequestBody(buffer: ByteBuffer(repeating: 7, count: count)) }

    @Test("Trickling bytes does not keep an upload past its absolute lifetime (7 days by default)")
    func lifetimeIsAbsolute() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // Each byte would push the expiry 30 days out; the lifetime caps it at 7 days after creation.
        let store = store { $0.uploadExpiry = 30 * 24 * 3600 }
        let info = try await store.create(length: 100, filename: "a.mp4", title: nil, visibility: .public, owner: "k")
        var offset: Int64 = 0
        for _ in 0..<3 {
            offset = try await store.append(id: info.id, at: offset, body: chunk(1), checksum: nil).offset
        }
        let trickled = try store.info(info.id)
        #expect(trickled.expiresAt <= info.createdAt.addingTimeInterval(7 * 24 * 3600))
        #expect(store.sweep(now: info.createdAt.addingTimeInterval(7 * 24 * 3600 + 1)) == 1)
        #expect(!FileManager.default.fileExists(atPath: store.directory(info.id).path))
    }

    @Test("A request still trickling when the lifetime ends is cut off, and the upload is swept")
    func lifetimeEndsARunningRequest() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let store = store { $0.uploadLifetime = 1 }
        let info = try await store.create(length: 100, filename: nil, title: nil, visibility: .public, owner: "k")
        let trickle = AsyncStream<ByteBuffer> { continuation in
            Task {
                continuation.yield(ByteBuffer(repeating: 1, count: 1))
                try await Task.sleep(for: .milliseconds(1500))
                continuation.yield(ByteBuffer(repeating: 2, count: 1))
                continuation.finish()
            }
        }
        await #expect(throws: Problem.self) {
            _ = try await store.append(id: info.id, at: 0, body: RequestBody(asyncSequence: trickle), checksum: nil)
        }
        #expect(store.sweep() == 1)
    }
}
