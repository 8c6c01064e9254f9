import Foundation
import Logging

/// Opens the catalog a URL names: `postgres://…` (several hosts), `sqlite:///absolute/path` or a plain
/// path (one host). Each Reel process opens one and keeps it for its lifetime.
public enum CatalogConnector {
    /// - Parameter waitFor: how long a long-running process (server, worker, autoscaler) waits for a
    ///   database that is unavailable when it starts — restarting, failing over, or not up yet on a host
    ///   that boots with it — instead of exiting at once and being restarted in a loop. 0 for commands.
    public static func open(url: String, options: CatalogOptions = CatalogOptions(), waitFor: TimeInterval = 0,
                            logger: Logger = Logger(label: "reel.catalog")) async throws -> any Catalog {
        guard PostgresURL.isPostgres(url) else {
            return try SQLiteCatalog(path: sqlitePath(url), options: options, logger: logger)
        }
        let postgres = try PostgresURL(url)
        let deadline = Date().addingTimeInterval(waitFor)
        var pause: TimeInterval = 1
        while true {
            do {
                return try await PostgresCatalog.connect(url: postgres, options: options, logger: logger)
            } catch CatalogError.unavailable(let why) where Date().addingTimeInterval(pause) < deadline {
                logger.warning("catalog unavailable, trying again in \(Int(pause)) s: \(why)")
                try await Task.sleep(for: .seconds(pause))
                pause = min(pause * 2, 10)
            }
        }
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
