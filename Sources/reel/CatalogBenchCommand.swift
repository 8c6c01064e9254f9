import ArgumentParser
import Catalog
import Foundation
import Logging

extension CatalogCommand {
    /// Queue throughput of a catalog database: how many claim → complete cycles per second N workers get.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue throughput: workers claim and complete empty jobs; prints cycles per second as JSON.",
            discussion: """
                Creates --jobs empty jobs (in videos of 10) and runs --workers claim → complete loops until the \
                queue is empty, each loop with its own catalog instance (its own connections), as separate worker \
                processes would have. Needs a catalog without videos (its loops would claim real jobs otherwise), \
                and deletes its videos afterwards.
                """)
        @OptionGroup var data: DataOptions
        @Option(help: "Concurrent claim → complete loops.") var workers = 4
        @Option(help: "Jobs to create and run.") var jobs = 2000

        static let jobsPerVideo = 10

        func validate() throws {
            guard (1...500).contains(workers) else { throw ValidationError("--workers must be 1…500, not \(workers)") }
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, not \(jobs)") }
        }

        struct Result: Encodable {
            var backend: String
            var database: String
            var workers: Int
            var jobs: Int
            var seconds: Double
            var cyclesPerSecond: Double
            /// Milliseconds per call: median and 99th percentile.
            var claimMs: [String: Double]
            var completeMs: [String: Double]
            /// Cycles each loop did.
            var perWorker: [Int]
        }

        func run() async throws {
            let url = try data.catalogURL()
            let logger = try data.logger("reel.catalog")
            do {
                let setup = try await CatalogConnector.open(url: url, logger: logger)
                defer { (setup as? PostgresCatalog)?.close() }
                guard try await setup.videos(state: nil, limit: 1, offset: 0).isEmpty else {
                    throw CatalogError.invalid("catalog \(Self.shown(url)) holds videos: the benchmark would claim their jobs. Give it an empty database.")
                }
                var videoIds: [String] = []
                do {
                    for start in stride(from: 0, to: jobs, by: Self.jobsPerVideo) {
                        let count = min(Self.jobsPerVideo, jobs - start)
                        let video = try await setup.createVideo(
                            NewVideo(title: "bench \(start / Self.jobsPerVideo)", originalPath: "bench/none", sizeBytes: 0),
                            jobs: Array(repeating: NewJob(kind: .videoChunk), count: count))
                        videoIds.append(video.id)
                    }
                    let result = try await measure(url, setup, logger)
                    for id in videoIds { try await setup.deleteVideo(id: id) }
                    try printJSON(result)
                } catch {
                    // Leave the database as it was, so that the next run does not find videos.
                    for id in videoIds { try? await setup.deleteVideo(id: id) }
                    throw error
                }
            } catch let error as CatalogError {
                printError("reel: \(error)")
                throw ExitCode.failure
            }
        }

        /// Runs the loops over the queued jobs, each on a catalog of its own.
        func measure(_ url: String, _ setup: any Catalog, _ logger: Logger) async throws -> Result {
            // Each loop's catalog is connected (and its first connection open) before the clock starts.
            var catalogs: [any Catalog] = []
            defer { for catalog in catalogs { (catalog as? PostgresCatalog)?.close() } }
            for _ in 0..<workers {
                let catalog = try await CatalogConnector.open(url: url, logger: logger)
                catalogs.append(catalog)
                _ = try await catalog.claimableJobs()
            }
            let started = ContinuousClock.now
            let loops = try await withThrowingTaskGroup(of: Loop.self) { group in
                for (index, catalog) in catalogs.enumerated() {
                    group.addTask { try await Loop.run(catalog, owner: "bench-\(index)") }
                }
                var loops: [Loop] = []
                for try await loop in group { loops.append(loop) }
                return loops
            }
            let seconds = (ContinuousClock.now - started).seconds
            let succeeded = try await setup.queueDepth()[.succeeded] ?? 0
            guard succeeded == jobs else { throw CatalogError.invalid("only \(succeeded) of \(jobs) jobs succeeded") }
            return Result(
                backend: PostgresURL.isPostgres(url) ? "postgresql" : "sqlite", database: Self.shown(url),
                workers: workers, jobs: jobs, seconds: seconds, cyclesPerSecond: Double(jobs) / seconds,
                claimMs: Self.summary(loops.flatMap(\.claims)), completeMs: Self.summary(loops.flatMap(\.completes)),
                perWorker: loops.map(\.cycles))
        }

        static func shown(_ url: String) -> String {
            PostgresURL.isPostgres(url) ? ((try? PostgresURL(url).description) ?? PostgresURL.redacted(url)) : url
        }

        static func summary(_ durations: [Duration]) -> [String: Double] {
            let sorted = durations.map { $0.seconds * 1000 }.sorted()
            guard !sorted.isEmpty else { return [:] }
            func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
            return ["p50": at(0.5), "p99": at(0.99)]
        }
    }

    /// One worker's loop: claim, complete, until there is nothing left to claim.
    struct Loop: Sendable {
        var cycles = 0
        var claims: [Duration] = []
        var completes: [Duration] = []

        static func run(_ catalog: any Catalog, owner: String) async throws -> Loop {
            var loop = Loop()
            let clock = ContinuousClock()
            while true {
                var claimed: ClaimedJob?
                loop.claims.append(try await clock.measure {
                    claimed = try await catalog.claim(owner: owner, leaseDuration: 300, kinds: nil)
                })
                guard let claim = claimed else { return loop }
                loop.completes.append(try await clock.measure {
                    try await catalog.complete(claim.lease, outcome: JobOutcome())
                })
                loop.cycles += 1
            }
        }
    }
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
