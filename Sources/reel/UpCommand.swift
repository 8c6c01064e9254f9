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
        let logger = makeLogger("reel.up")
        let settings = try server.serverSettings(data: data)
        let config = try data.settings()
        let catalog = try await data.openCatalog(logger: logger)
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
    private func firstAdminKey(catalog: any Catalog, layout: StorageLayout, logger: Logger) async throws -> String? {
        let file = layout.adminKeyFile
        if let saved = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           try await catalog.apiKey(secretHash: Authenticator.hash(saved)) != nil {
            return saved
        }
        guard try await catalog.apiKeys().isEmpty else { return nil }
        let key = Authenticator.newKey()
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
}
