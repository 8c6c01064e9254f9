import Crypto
import Foundation
import NIOCore
import NIOPosix

/// Writes one request body to an upload's file in 1 MiB writes, hashing what it writes: the running
/// whole-file SHA-256, and the chunk's own checksum when the client sent `Upload-Checksum`.
struct ChunkWriter {
    let fd: Int32
    /// Bytes in the file that were written completely (the upload's offset after this request).
    private(set) var durable: Int64
    let limit: Int64
    let overLimit: UploadError
    private(set) var hash: Crypto.SHA256?
    private var chunkSHA1: Insecure.SHA1?
    private var chunkSHA256: Crypto.SHA256?
    private let expected: Data?
    private var staging = ByteBufferAllocator().buffer(capacity: Self.writeSize)
    private let spaceCheck: () throws -> Void
    private var sinceSpaceCheck: Int64 = 0

    static let writeSize = 1 << 20
    /// How often free space (and, for a body of unknown length, the key's quotas) is checked while a
    /// body streams in.
    private let spaceCheckInterval: Int64

    init(fd: Int32, offset: Int64, limit: Int64, hash: Crypto.SHA256?, checksum: UploadStore.Checksum?,
         overLimit: UploadError, spaceCheckInterval: Int64 = 64 << 20, spaceCheck: @escaping () throws -> Void) {
        self.spaceCheckInterval = spaceCheckInterval
        self.fd = fd
        self.durable = offset
        self.limit = limit
        self.overLimit = overLimit
        self.hash = hash
        self.spaceCheck = spaceCheck
        switch checksum {
        case .sha1(let digest): chunkSHA1 = Insecure.SHA1(); expected = digest
        case .sha256(let digest): chunkSHA256 = Crypto.SHA256(); expected = digest
        case nil: expected = nil
        }
    }

    mutating func add(_ buffer: ByteBuffer) async throws {
        guard durable + Int64(staging.readableBytes + buffer.readableBytes) <= limit else { throw overLimit }
        buffer.withUnsafeReadableBytes { bytes in
            chunkSHA1?.update(bufferPointer: bytes)
            chunkSHA256?.update(bufferPointer: bytes)
        }
        var buffer = buffer
        staging.writeBuffer(&buffer)
        if staging.readableBytes >= Self.writeSize { try await flush() }
    }

    /// Writes what is staged. The write runs on NIO's thread pool: it can block (dirty-page throttling,
    /// NFS), and the cooperative pool must stay free for other requests.
    mutating func flush() async throws {
        guard staging.readableBytes > 0 else { return }
        let count = staging.readableBytes
        let chunk = staging, fd = fd
        try await NIOThreadPool.singleton.runIfActive { try Self.writeAll(fd, chunk) }
        chunk.withUnsafeReadableBytes { hash?.update(bufferPointer: $0) }
        durable += Int64(count)
        staging = ByteBufferAllocator().buffer(capacity: Self.writeSize)
        sinceSpaceCheck += Int64(count)
        if sinceSpaceCheck >= spaceCheckInterval {
            sinceSpaceCheck = 0
            try spaceCheck()
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == ENOSPC || errno == EDQUOT {
                        throw UploadError.storageFull
                    }
                    throw UploadError.storageFailure("Writing the upload failed: \(String(cString: strerror(errno))).")
                }
                done += n
            }
        }
    }

    /// After the whole body: true when there was no checksum or it matched.
    var checksumMatches: Bool {
        guard let expected else { return true }
        let actual: Data? = chunkSHA1.map { Data($0.finalize()) } ?? chunkSHA256.map { Data($0.finalize()) }
        return actual == expected
    }
}
