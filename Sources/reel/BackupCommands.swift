import ArgumentParser
import Backup
import Catalog
import Foundation

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the catalog and the originals (online: uploads and workers may go on).",
        discussion: """
            Writes DEST (a new directory): the catalog as of one instant (SQLite's online backup, or \
            pg_dump), every original it names with its SHA-256 checked against the catalog, the caption \
            tracks and the signing key, and manifest.json listing each file's size and SHA-256. Outputs \
            are not copied: `reel restore` has the workers rebuild them from the originals. Exit 1 when \
            an original is missing or corrupt (the backup is still written, without it).
            """)

    @OptionGroup var data: DataOptions
    @Argument(help: "A new directory for the backup.") var destination: String

    func run() async throws {
        let logger = try data.logger("reel.backup")
        let catalog = try await data.openCatalog(logger: logger)
        let writer = BackupWriter(layout: data.layout, catalogURL: try data.catalogURL())
        let manifest: BackupManifest
        do {
            manifest = try await writer.write(to: URL(fileURLWithPath: destination).standardizedFileURL, catalog: catalog)
        } catch let error as BackupError {
            printError("reel: \(error)")
            throw ExitCode.failure
        }
        let bytes = manifest.files.reduce(manifest.catalog.size) { $0 + $1.size }
        print("backup \(destination): \(manifest.catalogKind.rawValue) catalog, \(manifest.videos.count) videos, "
              + "\(manifest.files.count) files, \(bytes >> 20) MiB")
        // A video deleted while the backup ran is no loss; one still in the catalog without its original is.
        var lost = false
        for (id, why) in manifest.skipped.sorted(by: { $0.key < $1.key }) {
            let exists = (try? await catalog.video(id: id)) != nil
            printError("reel: left out video \(id): \(why)\(exists ? "" : " (it has been deleted since)")")
            lost = lost || exists
        }
        if lost { throw ExitCode.failure }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Bring a storage root and catalog back from a backup; the workers then rebuild the outputs.",
        discussion: """
            --data must name a new (or empty) directory, and the catalog a new SQLite file or an empty \
            PostgreSQL database (of the backup's kind). Every file is checked against the manifest \
            before anything is written. Every video is then queued again: start workers (`reel up`, \
            `reel worker`) to rebuild the playlists and segments.
            """)

    @OptionGroup var data: DataOptions
    @Argument(help: "The backup directory (made by reel backup).") var source: String

    func run() async throws {
        let logger = try data.logger("reel.restore")
        let restorer = BackupRestorer(layout: data.layout, catalogURL: try data.catalogURL())
        do {
            let summary = try await restorer.restore(from: URL(fileURLWithPath: source)) { url in
                try await CatalogConnector.open(url: url, logger: logger)
            }
            print("restored \(summary.videos) videos and \(summary.files) files into \(data.layout.root.path); "
                  + "\(summary.requeued) queued to be transcoded again"
                  + (summary.removed.isEmpty ? "" : "; removed \(summary.removed.count) the backup had left out"))
        } catch let error as BackupError {
            printError("reel: \(error)")
            throw ExitCode.failure
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a storage root against its catalog: originals (size, SHA-256) and ready videos' files.",
        discussion: "Prints one line per problem and exits 1 if there is any.")

    @OptionGroup var data: DataOptions

    func run() async throws {
        let catalog = try await data.openCatalog(logger: data.logger("reel.verify"))
        let report = try await RootVerifier(layout: data.layout).verify(catalog)
        for problem in report.problems { print(problem) }
        print("\(report.videos) videos, \(report.filesChecked) files checked: "
              + (report.problems.isEmpty ? "all good" : "\(report.problems.count) problem(s)"))
        if !report.problems.isEmpty { throw ExitCode.failure }
    }
}
