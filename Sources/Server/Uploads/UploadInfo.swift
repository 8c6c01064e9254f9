import Catalog
import Foundation

/// An upload in progress, as `uploads/<id>/info.json` on the storage root. The bytes received so far are
/// `uploads/<id>/data`; its size is the upload's offset, so there is no second source of truth to drift.
struct UploadInfo: Codable, Sendable {
    var id: String
    var length: Int64
    var filename: String?
    var title: String?
    var visibility: Visibility
    var createdAt: Date
    /// Pushed back by every PATCH (never past the upload lifetime); the sweeper removes unfinished uploads past it.
    var expiresAt: Date
    /// The API key that created it; only that key (or an admin) may continue or delete it.
    var ownerKeyId: String?
    /// Set once the last byte arrived and the video was registered.
    var videoId: String?
    /// A chunked plain upload: `length` is only the limit, so no space is promised for it.
    var deferredLength: Bool? = nil
}

extension UploadInfo {
    /// tus `Upload-Metadata`: comma-separated `key base64value` pairs.
    static func parseMetadata(_ header: String?) throws -> [String: String] {
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return [:] }
        var result: [String: String] = [:]
        for pair in header.split(separator: ",") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard let key = parts.first, !key.isEmpty else { throw Problem(.badRequest, "Upload-Metadata has an empty key.") }
            if parts.count == 1 { result[String(key)] = ""; continue }
            guard let data = Data(base64Encoded: String(parts[1])), let value = String(data: data, encoding: .utf8) else {
                throw Problem(.badRequest, "Upload-Metadata value of '\(key)' is not base64-encoded UTF-8.")
            }
            result[String(key)] = value
        }
        return result
    }

    static func visibility(_ text: String?) throws -> Visibility {
        guard let text, !text.isEmpty else { return .public }
        guard let visibility = Visibility(rawValue: text.lowercased()) else {
            throw Problem(.badRequest, "visibility must be 'public' or 'private', not '\(text)'.")
        }
        return visibility
    }

    /// A file name safe to keep as a label: no folders, no control characters, bounded.
    static func cleanFilename(_ name: String?) -> String? {
        guard let name else { return nil }
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let cleaned = String(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(Character.init)).prefix(200)
        return cleaned.isEmpty ? nil : String(cleaned)
    }
}
