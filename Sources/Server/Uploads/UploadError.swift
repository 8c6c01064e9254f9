import HTTPTypes

/// Why `UploadStore` (and its `ChunkWriter`) refused or could not finish an upload. The store knows
/// nothing of HTTP; `problem` below is the one place these become answers.
enum UploadError: Error, Equatable, Sendable {
    case negativeLength
    /// Longer than the server accepts at all.
    case tooLarge(length: Int64, limit: Int64)
    /// A chunked plain upload whose body passed the server's limit.
    case bodyTooLarge(limit: Int64)
    /// A body that goes past the upload's `Upload-Length`.
    case pastLength(Int64)
    /// A key's quotas: one upload larger than it may have in flight, or one more would pass its open
    /// uploads, bytes in flight or bytes stored.
    case quotaExceeded(Quota)
    /// Free space on the storage root, less what unfinished uploads were promised, below the reserve.
    case insufficientStorage(free: Int64, promised: Int64, needed: Int64, reserve: Int64)
    /// ENOSPC or EDQUOT while writing: the bytes received so far are kept.
    case storageFull
    case notFound(id: String)
    /// Unfinished past its expiry (until the sweeper removes it).
    case expired
    /// Unfinished at the end of its absolute lifetime, while a request was still writing to it.
    case lifetimeReached(seconds: Int)
    /// Another request is writing to it (or finishing it), here or in another process.
    case locked(Lock)
    /// The chunk does not start where the upload ends.
    case offsetMismatch(expected: Int64, actual: Int64)
    /// A chunk for an upload that is already complete.
    case alreadyComplete(expected: Int64, length: Int64)
    /// The connection ended mid-body; what arrived is kept.
    case bodyEndedEarly(reason: String, stored: Int64)
    /// The chunk does not match `Upload-Checksum`; it was discarded.
    case checksumMismatch
    /// The whole file does not match the SHA-256 the client gave; nothing was stored.
    case sha256Mismatch(actual: String, given: String)
    /// The storage root failed us (cannot open, create, move or read a file).
    case storageFailure(String)

    enum Quota: Equatable, Sendable {
        case uploadLargerThanInFlight(length: Int64, limit: Int64)
        case openUploads(open: Int)
        case bytesInFlight(inFlight: Int64, length: Int64, limit: Int64)
        case bytesStored(stored: Int64, inFlight: Int64, length: Int64, limit: Int64)
    }

    enum Lock: Equatable, Sendable {
        /// Seen by a writer: another one holds the upload.
        case anotherWriter
        /// Seen by a writer: another request is moving the finished upload into `originals/`.
        case anotherFinisher
        /// Seen by a deletion.
        case writer
    }

    /// Whether the bytes that arrived before this error stay (the client resumes from there): the disk
    /// filled up. Any other refusal of a body keeps nothing of it.
    var keepsReceivedBytes: Bool {
        switch self {
        case .storageFull, .insufficientStorage: true
        default: false
        }
    }

    static let quotaTitle = "Upload quota exceeded"
}

extension UploadError: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .negativeLength:
            Problem(.badRequest, "Upload-Length must be a non-negative integer.")
        case .tooLarge(let length, let limit):
            Problem(.contentTooLarge, "The upload is \(length) bytes; this server accepts at most \(limit).")
        case .bodyTooLarge(let limit):
            Problem(.contentTooLarge, "The body is larger than this server accepts (\(limit) bytes).")
        case .pastLength(let length):
            Problem(.badRequest, "The body goes past Upload-Length (\(length) bytes).")
        case .quotaExceeded(.uploadLargerThanInFlight(let length, let limit)):
            Problem(.contentTooLarge, "The upload is \(length) bytes; an API key may have at most \(limit) bytes in unfinished uploads.",
                    title: Self.quotaTitle)
        case .quotaExceeded(.openUploads(let open)):
            Problem(.insufficientStorage,
                    "This API key already has \(open) open uploads, the most it may have; finish or delete one (DELETE /v1/uploads/{id}) first.",
                    title: Self.quotaTitle)
        case .quotaExceeded(.bytesInFlight(let inFlight, let length, let limit)):
            Problem(.insufficientStorage,
                    "This API key has \(inFlight) bytes in flight in unfinished uploads; with this upload's \(length) it would pass its quota of \(limit). Finish or delete an upload first.",
                    title: Self.quotaTitle)
        case .quotaExceeded(.bytesStored(let stored, let inFlight, let length, let limit)):
            Problem(.insufficientStorage,
                    "This API key keeps \(stored) bytes in videos and \(inFlight) in unfinished uploads; with this upload's \(length) it would pass its storage quota of \(limit). Ask an administrator to delete videos or raise max_stored_per_key.",
                    title: Self.quotaTitle)
        case .insufficientStorage(let free, let promised, let needed, let reserve):
            Problem(.insufficientStorage,
                    "The storage root has \(free) bytes free\(promised > 0 ? ", \(promised) of them promised to unfinished uploads" : ""); this upload needs \(needed) plus a reserve of \(reserve).")
        case .storageFull:
            Problem(.insufficientStorage, "The storage root is full; the bytes received so far are kept.")
        case .notFound(let id):
            Problem(.notFound, "No upload with id \(id).")
        case .expired:
            Problem(.gone, "This upload expired before it was finished; start a new one.")
        case .lifetimeReached(let seconds):
            Problem(.gone, "This upload reached its lifetime (\(seconds) s) before it was finished; start a new one.")
        case .locked(.anotherWriter):
            Problem(.locked, "Another request is writing to this upload; retry when it has finished.")
        case .locked(.anotherFinisher):
            Problem(.locked, "Another request is finishing this upload; retry when it has finished.")
        case .locked(.writer):
            Problem(.locked, "A request is writing to this upload; retry when it has finished.")
        case .offsetMismatch(let expected, let actual):
            Problem(.conflict, "Upload-Offset is \(expected) but the server has \(actual) bytes.")
        case .alreadyComplete(let expected, let length):
            Problem(.conflict, "Upload-Offset is \(expected) but the upload is complete at \(length).")
        case .bodyEndedEarly(let reason, let stored):
            Problem(.badRequest, "The body ended early (\(reason)); \(stored) bytes are stored: resume from there.")
        case .checksumMismatch:
            Problem(.checksumMismatch, "The body does not match Upload-Checksum; it was discarded, resend it.")
        case .sha256Mismatch(let actual, let given):
            Problem(.unprocessableContent, "The body's SHA-256 is \(actual), not \(given) as given; nothing was stored.")
        case .storageFailure(let detail):
            Problem(.internalServerError, detail)
        }
    }
}
