import Foundation

/// The PostgreSQL server the tests may use: `scripts/test` starts a throw-away cluster
/// (`scripts/postgres-cluster`) and passes its URL in `$REEL_TEST_POSTGRES_URL`.
public enum TestPostgres {
    /// The server's URL (to its `postgres` database), if one was given.
    public static var serverURL: String? {
        ProcessInfo.processInfo.environment["REEL_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether tests must cover PostgreSQL: when a server is given, and always in CI (where a missing
    /// server is then a failure, not a skipped backend).
    public static var required: Bool {
        serverURL != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    public struct NoServer: Error, CustomStringConvertible {
        public var description: String {
            "no PostgreSQL server for the tests: run scripts/test, or start one with scripts/postgres-cluster and set REEL_TEST_POSTGRES_URL"
        }
    }

    /// A new, empty database on the test server; its URL. Each test gets its own, so tests run side by
    /// side without seeing each other's rows. The cluster is thrown away afterwards, and them with it.
    public static func createDatabase(_ label: String = "t") throws -> String {
        guard let server = serverURL else { throw NoServer() }
        let name = "\(label)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
        let result = try Tool.run("psql", [server, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"], timeout: 60)
        guard result.status == 0 else { throw Failure(what: "CREATE DATABASE \(name)", output: result.stderr) }
        return url(server, database: name)
    }

    /// Runs SQL on a database (psql), for tests that need to look under the contract.
    @discardableResult
    public static func psql(_ url: String, _ sql: String) throws -> String {
        let result = try Tool.run("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], timeout: 60)
        guard result.status == 0 else { throw Failure(what: sql, output: result.stderr) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `server` with its database replaced by `database`.
    public static func url(_ server: String, database: String) -> String {
        var components = URLComponents(string: server)!
        components.path = "/\(database)"
        return components.string!
    }

    public struct Failure: Error, CustomStringConvertible {
        var what: String
        var output: String
        public var description: String { "psql: \(what): \(output)" }
    }
}
