import ArgumentParser
import Catalog
import Foundation

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Move the catalog to PostgreSQL, and measure a catalog's queue.",
        subcommands: [Migrate.self, Bench.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a SQLite catalog into an empty PostgreSQL database. Stop every Reel process first.",
            discussion: """
                Copies every API key, video, rendition and job, ids included, in one transaction, then counts the \
                rows on both sides (per table, per video and job state): nothing is written unless the database was \
                empty and the counts match. Then point every node at the new catalog (database_url, \
                REEL_DATABASE_URL or --database) and start them again.
                """)
        @Option(help: "The SQLite catalog: a path or sqlite:///absolute/path.") var from: String
        @Option(help: "The PostgreSQL catalog: postgres://user[:password]@host[:port]/database, an empty database.") var to: String
        @Flag(help: "JSON output.") var json = false

        func validate() throws {
            guard !PostgresURL.isPostgres(from) else {
                throw ValidationError("--from must be a SQLite catalog (a path or sqlite:///absolute/path), not \(PostgresURL.redacted(from))")
            }
            guard PostgresURL.isPostgres(to) else {
                throw ValidationError("--to must be a postgres:// URL, not \(to)")
            }
        }

        func run() async throws {
            let logger = makeLogger("reel.catalog")
            do {
                let path = try CatalogConnector.sqlitePath(from)
                guard FileManager.default.fileExists(atPath: path) else { throw CatalogError.notFound("SQLite catalog \(path)") }
                // Connecting migrates the target's schema, so the copy finds every table.
                let target = try await PostgresCatalog.connect(url: PostgresURL(to), logger: logger)
                defer { target.close() }
                let source = try SQLiteCatalog(path: path, logger: logger)
                let report = try await CatalogCopier.copy(from: source, to: target)
                if json { return try printJSON(report) }
                print("copied \(source.path) to \(target.url)")
                print("\(pad("TABLE", 12)) \(pad("GROUP", 12)) \(pad("SQLITE", 8)) POSTGRESQL")
                for count in report.counts {
                    print("\(pad(count.group == nil ? count.table : "", 12)) \(pad(count.group ?? "(all)", 12)) "
                        + "\(pad("\(count.sqlite)", 8)) \(count.postgres)")
                }
                for (table, id) in report.nextIds.sorted(by: { $0.key < $1.key }) {
                    print("next id in \(table): \(id)")
                }
                print("Now set database_url (or REEL_DATABASE_URL, or --database) to \(target.url) on every node.")
            } catch let error as CatalogError {
                printError("reel: \(error)")
                throw ExitCode.failure
            }
        }
    }
}
