import Crypto
import Foundation

/// SHA-256 of originals, with swift-crypto: the same hashing whether a file arrives by upload (a running
/// hash over the body) or by `reel ingest` (a hash over the copy), or is read back to be hashed.
public enum FileDigest {
    public static func hex(_ digest: some Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    /// Reads the file at `path` in 1 MiB reads; memory stays flat whatever its size.
    public static func sha256(ofFileAt path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicDirectory.Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var hash = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw AtomicDirectory.Failure(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hex(hash.finalize())
    }
}
