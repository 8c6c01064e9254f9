import Catalog
import Crypto
import Foundation
import Storage
import HTTPTypes
import Hummingbird

/// Bearer API keys. A key is `reel_` + 32 random bytes (base64url); the catalog stores only its SHA-256.
public struct Authenticator: Sendable {
    let catalog: any Catalog

    public init(catalog: any Catalog) { self.catalog = catalog }

    /// A new secret and the hash to store. The secret is shown once and never stored.
    public static func newKey() -> (secret: String, hash: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secret = "reel_" + Base64URL.encode(Data(bytes))
        return (secret, hash(secret))
    }

    public static func hash(_ secret: String) -> String { FileDigest.hex(Crypto.SHA256.hash(data: Data(secret.utf8))) }

    /// The caller's key, or nil when the request carries none. A key that is present but unknown or
    /// revoked is an error: the client should learn that its key is wrong, not be treated as anonymous.
    func key(for request: Request) async throws -> APIKeyRecord? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("Authorization must be 'Bearer <API key>'.")
        }
        guard let key = try await catalog.apiKey(secretHash: Self.hash(String(parts[1]).trimmingCharacters(in: .whitespaces))) else {
            throw Self.unauthorized("This API key is unknown or revoked.")
        }
        return key
    }

    /// A key of at least `scope` (admin covers upload).
    func require(_ scope: APIKeyScope, for request: Request) async throws -> APIKeyRecord {
        guard let key = try await key(for: request) else {
            throw Self.unauthorized("This needs an API key: send 'Authorization: Bearer <key>' (create one with 'reel keys create').")
        }
        if scope == .admin && key.scope != .admin {
            throw Problem(.forbidden, "This needs an admin key; '\(key.name)' is an \(key.scope.rawValue) key.")
        }
        return key
    }

    /// Whose eyes a request is for (`VideoAudience`): no key, an upload key, or an admin key.
    static func audience(of key: APIKeyRecord?) -> VideoAudience {
        guard let key else { return .anonymous }
        return key.scope == .admin ? .everyone : .key(id: key.id)
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, detail, headers: [.wwwAuthenticate: "Bearer realm=\"reel\""])
    }
}
