import Catalog
import Foundation
import Synchronization

/// `pg_dump` and `pg_restore` for a PostgreSQL catalog. The connection goes through libpq's environment
/// (PGHOST, PGPASSWORD, …), never the command line, where every user of the host could read the password.
enum PostgresTools {
    static func dump(_ url: PostgresURL, to file: URL) throws {
        try run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", "--file", file.path], url)
    }

    /// Into an empty database (refused otherwise: a restore never merges into a live catalog).
    static func restore(_ url: PostgresURL, from file: URL) throws {
        let tables = try run("psql", ["--no-psqlrc", "--tuples-only", "--no-align", "--command",
                                      "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"], url)
        guard tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0" else {
            throw BackupError("the database \(url.database) on \(url.host) is not empty; restore into a new, empty database")
        }
        try run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                               "--dbname", url.database, file.path], url)
    }

    static func environment(_ url: PostgresURL) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["PGHOST"] = url.socketDirectory ?? url.host
        env["PGPORT"] = String(url.port)
        env["PGUSER"] = url.user
        env["PGDATABASE"] = url.database
        env["PGSSLMODE"] = url.sslMode.rawValue
        env["PGCONNECT_TIMEOUT"] = String(url.connectTimeout)
        if let password = url.password { env["PGPASSWORD"] = password } else { env.removeValue(forKey: "PGPASSWORD") }
        if let root = url.sslRootCert { env["PGSSLROOTCERT"] = root }
        return env
    }

    /// Runs a PostgreSQL client tool; its standard output, or its own error message in a BackupError.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], _ url: PostgresURL) throws -> String {
        guard let path = ["/usr/bin", "/usr/local/bin", "/usr/lib/postgresql/15/bin"]
            .map({ "\($0)/\(tool)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BackupError("\(tool) is not installed (Debian: apt install postgresql-client)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment(url)
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes to the end before waiting, so a chatty tool cannot block on a full pipe.
        let collected = Collected()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { collected.set(errors.fileHandleForReading.readDataToEndOfFile()); group.leave() }
        let out = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: collected.get(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw BackupError("\(tool) failed (exit \(process.terminationStatus)): \(message)")
        }
        return String(decoding: out, as: UTF8.self)
    }

    private final class Collected: Sendable {
        private let data = Mutex(Data())
        func set(_ value: Data) { data.withLock { $0 = value } }
        func get() -> Data { data.withLock { $0 } }
    }
}
