import ArgumentParser
import Catalog
import Foundation

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "Inspect and steer the job queue.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Jobs, newest first.")
        @OptionGroup var options: DataOptions
        @Option(help: "Only this state (waiting, queued, running, succeeded, failed, dead, cancelled).") var state: String?
        @Option(help: "Only this video's jobs.") var video: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let catalog = try await options.openCatalog(logger: options.logger("reel.jobs"))
            var states: Set<JobState>?
            if let state {
                guard let parsed = JobState(rawValue: state) else { throw ValidationError("unknown state '\(state)'") }
                states = [parsed]
            }
            let jobs = try await catalog.jobs(videoId: video, states: states, limit: limit)
            if json { return try printJSON(jobs) }
            print("ID      KIND         STATE      TRY  PROGRESS  VIDEO                                 ERROR")
            for j in jobs {
                print("\(pad("\(j.id)", 7)) \(pad(j.kind.rawValue, 12)) \(pad(j.state.rawValue, 10)) \(j.attempt)/\(j.maxAttempts)  "
                    + String(format: "%7.0f%%", j.progress * 100) + "  \(j.videoId)  \(j.lastError ?? "")")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One job in full.")
        @OptionGroup var options: DataOptions
        @Argument var id: Int64
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let catalog = try await options.openCatalog(logger: options.logger("reel.jobs"))
            guard let job = try await catalog.job(id: id) else {
                printError("reel: no job \(id)")
                throw ExitCode.failure
            }
            if json { return try printJSON(job) }
            let fields: [(String, String)] = [
                ("id", "\(job.id)"), ("video", job.videoId), ("kind", job.kind.rawValue), ("state", job.state.rawValue),
                ("priority", "\(job.priority)"), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
                ("progress", String(format: "%.0f%%", job.progress * 100)), ("payload", job.payload),
                ("parent", job.parentId.map { "\($0)" } ?? "-"), ("lease owner", job.leaseOwner ?? "-"),
                ("lease expires", job.leaseExpiresAt.map { "\($0)" } ?? "-"), ("run after", "\(job.runAfter)"),
                ("created", "\(job.createdAt)"), ("finished", job.finishedAt.map { "\($0)" } ?? "-"),
                ("last error", job.lastError ?? "-"),
            ]
            for (k, v) in fields { print("\(k.padding(toLength: 14, withPad: " ", startingAt: 0)) \(v)") }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a failed, dead or cancelled job back in the queue.")
        @OptionGroup var options: DataOptions
        @Argument var id: Int64

        func run() async throws {
            try await steer(options, "job \(id) queued again") { try await $0.retry(jobId: id) }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a job (a worker running it stops at its next heartbeat).")
        @OptionGroup var options: DataOptions
        @Argument var id: Int64

        func run() async throws {
            try await steer(options, "job \(id) cancelled") { try await $0.cancel(jobId: id) }
        }
    }

    /// Runs an operator's action on the catalog; a refusal (wrong state, no such job) is a sentence and exit 1.
    static func steer(_ options: DataOptions, _ done: String, _ action: (any Catalog) async throws -> Void) async throws {
        let catalog = try await options.openCatalog(logger: options.logger("reel.jobs"))
        do { try await action(catalog) } catch let error as CatalogError {
            printError("reel: \(error)")
            throw ExitCode.failure
        }
        print(done)
    }
}

struct VideosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videos", abstract: "List and inspect videos.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Videos, newest first.")
        @OptionGroup var options: DataOptions
        @Option(help: "Only this state (queued, processing, ready, failed).") var state: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let catalog = try await options.openCatalog(logger: options.logger("reel.videos"))
            let filter = try state.map { s -> VideoState in
                guard let v = VideoState(rawValue: s) else { throw ValidationError("unknown state '\(s)'") }
                return v
            }
            let videos = try await catalog.videos(state: filter, limit: limit, offset: 0)
            if json { return try printJSON(videos) }
            print("ID                                    STATE       PROGRESS  DURATION  TITLE")
            for v in videos {
                print("\(v.id)  \(pad(v.state.rawValue, 10))  " + String(format: "%7.0f%%", v.progress * 100)
                    + "  \(pad(v.durationSeconds.map { String(format: "%.1f s", $0) } ?? "-", 8))  \(v.title)")
                if let error = v.error { print("    error: \(error)") }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One video with its renditions and jobs.")
        @OptionGroup var options: DataOptions
        @Argument var id: String
        @Flag(help: "JSON output.") var json = false

        struct Detail: Encodable {
            var video: VideoRecord
            var renditions: [RenditionRecord]
            var jobs: [JobRecord]
            var masterPlaylist: String?
        }

        func run() async throws {
            let catalog = try await options.openCatalog(logger: options.logger("reel.videos"))
            guard let video = try await catalog.video(id: id) else {
                printError("reel: no video \(id)")
                throw ExitCode.failure
            }
            let master = options.layout.masterPlaylist(video: id)
            let detail = Detail(video: video, renditions: try await catalog.renditions(videoId: id),
                                jobs: try await catalog.jobs(videoId: id, states: nil, limit: 1000),
                                masterPlaylist: video.publishedSegments > 0 ? master.path : nil)
            if json { return try printJSON(detail) }
            print("\(video.id)  \(video.title)")
            print("  state \(video.state.rawValue), \(String(format: "%.0f%%", video.progress * 100)), "
                + "\(video.publishedSegments) segments published" + (video.error.map { ", error: \($0)" } ?? ""))
            if let m = detail.masterPlaylist { print("  playlist \(m)") }
            for r in detail.renditions {
                print("  \(r.name): \(r.width.map { "\($0)x\(r.height ?? 0)" } ?? "audio"), \(r.bandwidth / 1000) kb/s peak, \(r.codecs)")
            }
            for j in detail.jobs {
                print("  job \(j.id) \(j.kind.rawValue) \(j.state.rawValue) attempt \(j.attempt)" + (j.lastError.map { ": \($0)" } ?? ""))
            }
        }
    }
}

/// Left-aligns `text` in a column of `width` characters.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
