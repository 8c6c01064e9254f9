import Foundation
import Storage
import Testing

/// `SecretFile`: a new 0600 file moved into place; what was at the name is replaced or kept whole,
/// never written through.
@Suite("Secret files")
struct SecretFileTests {
    private func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    private func mode(_ path: String) -> mode_t {
        var info = stat()
        lstat(path, &info)
        return info.st_mode
    }

    @Test func replacingNeverWritesThroughASymlinkOrKeepsAnOldMode() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let victim = directory.appendingPathComponent("victim")
        try "not yours".write(to: victim, atomically: false, encoding: .utf8)
        let secret = directory.appendingPathComponent("admin.key")
        try FileManager.default.createSymbolicLink(at: secret, withDestinationURL: victim)

        #expect(try SecretFile.write("s3cret\n", to: secret, placement: .replace))
        #expect(try String(contentsOf: victim, encoding: .utf8) == "not yours")
        #expect(mode(secret.path) & S_IFMT == S_IFREG)
        #expect(mode(secret.path) & 0o777 == 0o600)
        #expect(try String(contentsOf: secret, encoding: .utf8) == "s3cret\n")

        chmod(secret.path, 0o644)
        #expect(try SecretFile.write("again\n", to: secret, placement: .replace))
        #expect(mode(secret.path) & 0o777 == 0o600)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["admin.key", "victim"])
    }

    @Test func keepingExistingLetsTheFirstWriterWin() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("signing.key")
        #expect(try SecretFile.write("first", to: secret, placement: .keepExisting))
        #expect(try !SecretFile.write("second", to: secret, placement: .keepExisting))
        #expect(try String(contentsOf: secret, encoding: .utf8) == "first")
        #expect(mode(secret.path) & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["signing.key"])
    }
}
