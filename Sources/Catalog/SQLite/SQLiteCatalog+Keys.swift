import Foundation
import GRDB

extension SQLiteCatalog {
    public func createAPIKey(name: String, scope: APIKeyScope, secretHash: String) async throws -> APIKeyRecord {
        try await immediate { db in
            let record = APIKeyRecord(id: APIKeyRecord.newId(), name: name, scope: scope,
                                      secretHash: secretHash, createdAt: self.options.now(), revokedAt: nil)
            try record.insert(db)
            return record
        }
    }

    public func apiKey(secretHash: String) async throws -> APIKeyRecord? {
        try await read { db in
            try APIKeyRecord.fetchOne(db, sql: "SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL",
                                      arguments: [secretHash])
        }
    }

    public func apiKeys() async throws -> [APIKeyRecord] {
        try await read { db in try APIKeyRecord.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at") }
    }

    public func revokeAPIKey(id: String) async throws {
        try await immediate { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [self.options.now(), id])
            if db.changesCount == 0, try !APIKeyRecord.exists(db, key: id) {
                throw CatalogError.notFound("API key \(id)")
            }
        }
    }
}
