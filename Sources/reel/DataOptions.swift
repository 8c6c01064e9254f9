import ArgumentParser
import Catalog
import Foundation
import Logging
import Profiles
import Storage

/// Where Reel keeps its data: `--data`, else `$REEL_DATA_DIR`, else `data_dir` in the config file, else
/// `./var`. The catalog is `<data>/reel.sqlite` unless `--database`/`$REEL_DATABASE_URL`/`database_url`
/// says otherwise.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Storage root (default: $REEL_DATA_DIR, the config file's data_dir, or ./var).")
    var data: String?

    @Option(name: .long, help: "Catalog: postgres://user@host/db or a SQLite path (default: $REEL_DATABASE_URL, database_url, or <data>/reel.sqlite).")
    var database: String?

    @Option(name: .long, help: "Config file (default: $REEL_CONFIG, or ./reel.yaml when present).")
    var config: String?

    @Option(name: .long, help: "Log lines as text or json (default: $REEL_LOG_FORMAT, the config file's log_format, or text).")
    var logFormat: String?

    /// A logger for the command; the first one sets how the process logs (`LogOutput`).
    func logger(_ label: String) throws -> Logger {
        do { try LogOutput.bootstrap(flag: logFormat, configPath: config) } catch { throw ValidationError("\(error)") }
        return makeLogger(label)
    }

    func settings() throws -> Settings {
        do { return try Settings.load(configPath: config) } catch { throw ValidationError("\(error)") }
    }

    var layout: StorageLayout {
        let file = (try? settings()) ?? Settings(file: [:], path: nil)
        return StorageLayout(path: file.string(data, "data_dir") ?? "var")
    }

    /// The catalog's URL: `--database`, `$REEL_DATABASE_URL`, `database_url`, else `<data>/reel.sqlite`.
    func catalogURL() throws -> String {
        try settings().string(database, "database_url") ?? layout.catalogPath
    }

    /// `waitFor`: long-running processes wait this long for a database that is away when they start.
    func openCatalog(logger: Logger, waitFor: TimeInterval = 0) async throws -> any Catalog {
        try await CatalogConnector.open(url: catalogURL(), waitFor: waitFor, logger: logger)
    }
}

func makeLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    if let level = ProcessInfo.processInfo.environment["REEL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
        logger.logLevel = level
    }
    return logger
}

func loadProfile(_ nameOrPath: String) throws -> Profile {
    do {
        return try ProfileLoader.resolve(nameOrPath, profilesDirectory: ProfileLoader.defaultProfilesDirectory() ?? "profiles")
    } catch {
        printError("reel: \(error)")
        throw ExitCode.failure
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
