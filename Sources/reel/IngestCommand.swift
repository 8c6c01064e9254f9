import ArgumentParser
import Catalog
import Foundation

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Copy local files onto the storage root and queue them for transcoding.")

    @OptionGroup var options: DataOptions
    @Argument(help: "Video or audio files.") var files: [String]
    @Option(help: "Title (default: the file name). Only with a single file.") var title: String?
    @Flag(help: "Print the new videos as JSON.") var json = false

    func validate() throws {
        if title != nil && files.count > 1 { throw ValidationError("--title goes with a single file") }
    }

    func run() async throws {
        let catalog = try await options.openCatalog(logger: options.logger("reel.ingest"))
        var videos: [VideoRecord] = []
        var failed = false
        for file in files {
            let url = URL(fileURLWithPath: file)
            guard FileManager.default.isReadableFile(atPath: url.path) else {
                printError("reel: cannot read \(file)")
                failed = true
                continue
            }
            let video = try await Ingest.register(file: url, title: title, layout: options.layout, catalog: catalog)
            videos.append(video)
            if !json { print("\(video.id)  \(video.title)  queued") }
        }
        if json { try printJSON(videos) }
        if failed { throw ExitCode.failure }
    }
}
