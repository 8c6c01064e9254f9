import ArgumentParser
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
    @Option(help: "Worker processes (default 2, or workers / $REEL_WORKERS).") var workers: Int?
    @Option(help: "Rendition profile for the workers (default: default, or profile / $REEL_PROFILE).") var profile: String?

    func run() async throws {
        let logger = makeLogger("reel.up")
        let settings = try server.serverSettings(data: data)
        let config = try data.settings()
        let catalog = try data.openCatalog(logger: logger)
        let count = try config.int(workers, "workers", default: 2)
        guard count >= 0 else { throw ValidationError("workers must be 0 or more") }
        let profileName = config.string(profile, "profile") ?? "default"
        _ = try loadProfile(profileName)  // a typo here should stop `up`, not make every worker crash-loop

        var workerArguments = ["--data", settings.layout.root.path, "--profile", profileName]
        if let database = config.string(data.database, "database_url") { workerArguments += ["--database", database] }
        if let path = config.path { workerArguments += ["--config", path] }

        let key = try await firstAdminKey(catalog: catalog, layout: settings.layout)
        let shownHost = settings.host == "0.0.0.0" ? "localhost" : settings.host
        let url = "http://\(shownHost):\(settings.port)/"
        var banner = "Reel is up: open \(url)\(key.map { "#key=\($0)" } ?? "")\n"
        if key == nil { banner += "(create an API key for uploading with: reel keys create --name me --scope admin)\n" }
        banner += "Storage root \(settings.layout.root.path), \(count) worker(s), profile '\(profileName)'. Ctrl-C stops everything.\n"
        // Straight to the file descriptor: print() would buffer the link until the process exits.
        FileHandle.standardOutput.write(Data(banner.utf8))

        try await ReelServer(settings: settings, catalog: catalog, logger: logger).run(
            workers: WorkerProcesses(count: count, arguments: workerArguments, drainTimeout: 20, logger: logger))
    }

    /// On a fresh storage root, an admin key for the person who just ran `reel up`, kept in
    /// `<data>/admin.key` (mode 0600) so that the next `reel up` prints the same link.
    private func firstAdminKey(catalog: any Catalog, layout: StorageLayout) async throws -> String? {
        let file = layout.root.appendingPathComponent("admin.key")
        if let saved = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           try await catalog.apiKey(secretHash: Authenticator.hash(saved)) != nil {
            return saved
        }
        guard try await catalog.apiKeys().isEmpty else { return nil }
        let key = Authenticator.newKey()
        _ = try await catalog.createAPIKey(name: "first admin (reel up)", scope: .admin, secretHash: key.hash)
        // Created with mode 0600 from the start (no window in which others could read it).
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd >= 0 {
            let line = key.secret + "\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        return key.secret
    }
}
