import Catalog
import Foundation

/// An upload in progress, as the catalog records it (shared by every host: see `UploadRecord`). The bytes
/// received so far are `uploads/<id>/data` on the storage root; the catalog's offset says how many of
/// them are durable.
typealias UploadInfo = UploadRecord

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
