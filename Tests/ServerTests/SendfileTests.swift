import Foundation
import NIOCore
import Testing
@testable import Server

@Suite("Sendfile descriptors")
struct SendfileTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-sendfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, bytes count: Int) throws -> (path: String, identity: FileIdentity) {
        let url = directory.appendingPathComponent(name)
        try Data((0..<count).map { UInt8(truncatingIfNeeded: $0) }).write(to: url)
        return try StoredFile.find(root: directory.path, components: [name])
    }

    @Test func roundTrip() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try write("seg-00001.m4s", bytes: 100_000)
        let region = Sendfile.Region(path: file.path, identity: file.identity, offset: 1001, count: 5000)
        #expect(Sendfile.decode(Sendfile.encode(region)) == region)
    }

    @Test("Only buffers that start with this process's token are descriptors")
    func foreignBytesAreNotDescriptors() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try write("seg-00001.m4s", bytes: 100_000)
        var forged = Sendfile.encode(.init(path: file.path, identity: file.identity, offset: 0, count: 10))
        forged.setInteger(~forged.getInteger(at: 0, as: UInt8.self)!, at: 0)
        #expect(Sendfile.decode(forged) == nil)
        #expect(Sendfile.decode(ByteBuffer(bytes: Sendfile.token)) == nil)  // too short
        #expect(Sendfile.decode(ByteBuffer(repeating: 0, count: 4096)) == nil)
    }

    @Test("A file replaced after its lookup is not opened under the old identity")
    func replacedFileIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try write("seg-00001.m4s", bytes: 100_000)
        let region = Sendfile.Region(path: file.path, identity: file.identity, offset: 0, count: 100_000)
        let handle = try Sendfile.open(region)
        try handle.close()

        _ = try write("seg-00001.m4s.new", bytes: 70_000)
        #expect(rename(file.path + ".new", file.path) == 0)
        #expect(throws: Sendfile.OpenError.self) { try Sendfile.open(region) }
        unlink(file.path)
        #expect(throws: Sendfile.OpenError.self) { try Sendfile.open(region) }
    }

    @Test("Symlinks are not followed")
    func symlinkIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try write("seg-00001.m4s", bytes: 100_000)
        let link = directory.appendingPathComponent("link.m4s").path
        #expect(symlink(file.path, link) == 0)
        let region = Sendfile.Region(path: link, identity: file.identity, offset: 0, count: 100_000)
        #expect(throws: Sendfile.OpenError.self) { try Sendfile.open(region) }
    }
}
