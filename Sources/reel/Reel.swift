import ArgumentParser

@main
struct Reel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reel",
        abstract: "Reel turns uploaded videos into adaptive HLS.",
        subcommands: [ProbeCommand.self, TranscodeCommand.self, ProfilesCommand.self, IngestCommand.self,
                      WorkerCommand.self, JobsCommand.self, VideosCommand.self,
                      ServeCommand.self, UpCommand.self, KeysCommand.self, AutoscaleCommand.self, CatalogCommand.self,
                      BackupCommand.self, RestoreCommand.self, VerifyCommand.self]
    )
}
