import ArgumentParser
import Autoscaler
import Catalog
import Foundation
import Logging
import Server
import Storage

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run everything on one machine: the HTTP front end plus worker processes.")

    @OptionGroup var data: DataOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var scaling: AutoscaleOptions
    @Option(help: "A fixed number of workers instead of autoscaling between --min-workers and --max-workers (or workers / $REEL_WORKERS).")
    var workers: Int?
    @Option(help: "Rendition profile for the workers (default: default, or profile / $REEL_PROFILE).") var profile: String?

    func run() async throws {
        signal(SIGHUP, SIG_IGN)  // as `reel serve`: a reload never ends it (CertificateReloader handles it)
        let logger = try data.logger("reel.up")
        let settings = try server.serverSettings(data: data)
        let config = try data.settings()
        let catalog = try await data.openCatalog(logger: logger, waitFor: 300)
        var fixed: Int? = workers
        if fixed == nil, let text = config.string(nil, "workers") {
            guard let number = Int(text) else { throw ValidationError("workers must be an integer, not '\(text)'") }
            fixed = number
        }
        if let fixed, fixed < 0 { throw ValidationError("workers must be 0 or more") }
        let profileName = config.string(profile, "profile") ?? "default"
        _ = try loadProfile(profileName)  // a typo here should stop `up`, not make every worker crash-loop
        let drain = try config.seconds(nil, "drain_timeout", default: 20)
        let driver = ChildProcessDriver(arguments: workerArguments(data: data, settings: config, profile: profileName),
                                        drainTimeout: drain, logger: logger)
        let autoscaler = try scaling.autoscaler(config, fixedWorkers: fixed, driverName: "child", catalog: catalog,
                                                driver: driver, layout: settings.layout, logger: logger)
        let scalingConfig = autoscaler.config
        let workersText = fixed == 0 ? "no workers" : scalingConfig.minWorkers == scalingConfig.maxWorkers
            ? "\(scalingConfig.minWorkers) worker(s)"
            : "\(scalingConfig.minWorkers)–\(scalingConfig.maxWorkers) workers (autoscaled at \(Int(scalingConfig.targetCPU))% CPU)"

        let key = try await firstAdminKey(catalog: catalog, layout: settings.layout, logger: logger)
        let shownHost = settings.host == "0.0.0.0" ? "localhost" : settings.host
        let url = "http://\(shownHost):\(settings.port)/"
        var banner = "Reel is up: open \(url)\(key.map { "#key=\($0)" } ?? "")\n"
        if key == nil { banner += "(create an API key for uploading with: reel keys create --name me --scope admin)\n" }
        banner += "Storage root \(settings.layout.root.path), \(workersText), profile '\(profileName)'. Ctrl-C stops everything.\n"
        // Straight to the file descriptor: print() would buffer the link until the process exits.
        FileHandle.standardOutput.write(Data(banner.utf8))

        // --workers 0: this host only serves (workers run elsewhere).
        try await ReelServer(settings: settings, catalog: catalog, logger: logger).run(
            workers: fixed == 0 ? nil : AutoscalerService(autoscaler: autoscaler), shutdownBound: drain + 30)
    }

    /// On a fresh storage root, an admin key for the person who just ran `reel up`, kept in
    /// `<data>/admin.key` (mode 0600) so that the next `reel up` prints the same link.
    ///
    /// Several hosts may start together on one empty catalog and one shared root: the file is the
    /// arbiter. Each host makes a key and links its file into place only if none is there; the one that
    /// placed it registers its key, and the others wait for that key to appear in the catalog and print
    /// it too. (Before, each registered its own and renamed its file over the others': several "first"
    /// keys, and links printed for keys the file no longer held.)
    private func firstAdminKey(catalog: any Catalog, layout: StorageLayout, logger: Logger) async throws -> String? {
        let file = layout.adminKeyFile
        if let saved = try await savedKey(file, catalog: catalog) { return saved }
        guard try await catalog.apiKeys().isEmpty else {
            // Another host may have placed the file and registered its key since the first look.
            return try await savedKey(file, catalog: catalog)
        }
        let key = Authenticator.newKey()
        let placed: Bool
        do {
            placed = try SecretFile.write(key.secret + "\n", to: file, placement: .keepExisting)
        } catch {
            logger.warning("could not keep the admin key in \(file.path): \(error)")
            _ = try await catalog.createAPIKey(name: "first admin (reel up)", scope: .admin, secretHash: key.hash)
            return key.secret
        }
        if placed {
            _ = try await catalog.createAPIKey(name: "first admin (reel up)", scope: .admin, secretHash: key.hash)
            return key.secret
        }
        // Another host's file (a fresh 0600 file, as SecretFile writes them): it registers that key in a
        // moment. Anything else there — an old file from a catalog used before, a looser file, a
        // symlink — is replaced at once.
        if Self.isFreshSecretFile(file) {
            for _ in 0..<50 {
                if let saved = try await savedKey(file, catalog: catalog) { return saved }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard try await catalog.apiKeys().isEmpty else { return try await savedKey(file, catalog: catalog) }
        _ = try await catalog.createAPIKey(name: "first admin (reel up)", scope: .admin, secretHash: key.hash)
        // A new 0600 file renamed over whatever was there: an old file keeps no looser mode, a symlink
        // planted there is replaced rather than followed.
        do {
            try SecretFile.write(key.secret + "\n", to: file, placement: .replace)
        } catch {
            logger.warning("could not keep the admin key in \(file.path): \(error)")
        }
        return key.secret
    }

    /// A regular file (not a symlink) of mode 0600, written in the last minute.
    private static func isFreshSecretFile(_ file: URL) -> Bool {
        var info = stat()
        guard lstat(file.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o777 == 0o600 else { return false }
        return Date().timeIntervalSince1970 - Double(info.st_mtim.tv_sec) < 60
    }

    /// The key in `file`, if the catalog knows it.
    private func savedKey(_ file: URL, catalog: any Catalog) async throws -> String? {
        guard let saved = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
              !saved.isEmpty else { return nil }
        return try await catalog.apiKey(secretHash: Authenticator.hash(saved)) != nil ? saved : nil
    }
}
