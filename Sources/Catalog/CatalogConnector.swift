import Foundation
import Logging

/// Opens the catalog a URL names: `postgres://…` (several hosts), `sqlite:///absolute/path` or a plain
/// path (one host). Each Reel process opens one and keeps it for its lifetime.
public enum CatalogConnector {
    public static func open(url: String, options: CatalogOptions = CatalogOptions(),
                            logger: Logger = Logger(label: "reel.catalog")) async throws -> any Catalog {
        if PostgresURL.isPostgres(url) {
            return try await PostgresCatalog.connect(url: PostgresURL(url), options: options, logger: logger)
        }
        return try SQLiteCatalog(path: sqlitePath(url), options: options, logger: logger)
    }

    /// The file a SQLite catalog URL names.
    public static func sqlitePath(_ url: String) throws -> String {
        if url.lowercased().hasPrefix("sqlite:") {
            var rest = String(url.dropFirst("sqlite:".count))
            if rest.hasPrefix("//") { rest.removeFirst(2) }
            let path = rest.removingPercentEncoding ?? rest
            guard path.hasPrefix("/") else {
                throw CatalogError.invalid("catalog URL \(url): write sqlite:///absolute/path (three slashes) or a plain path")
            }
            return path
        }
        if let scheme = url.range(of: "://") {
            throw CatalogError.invalid("""
                catalog URL \(PostgresURL.redacted(url)): unsupported scheme \(url[..<scheme.lowerBound]); \
                use postgres://… or a SQLite path
                """)
        }
        guard !url.isEmpty else { throw CatalogError.invalid("catalog URL is empty") }
        return url
    }
}
