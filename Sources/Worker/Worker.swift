import Catalog
import Foundation
import Logging
import Media
import Storage

/// `reel worker`: claim → run → complete → publish, in a loop, until stopped. Each running job is kept
/// alive by a heartbeat; if the lease is lost (expired and re-claimed, or cancelled) the transcode is
/// cancelled and nothing is committed. On stop the worker claims nothing new, lets the running piece
/// finish within `drainTimeout`, and otherwise gives its lease back.
public struct Worker: Sendable {
    public let settings: WorkerSettings
    public let catalog: any Catalog
    public let logger: Logger

    public init(settings: WorkerSettings, catalog: any Catalog, logger: Logger) {
        self.settings = settings
        self.catalog = catalog
        self.logger = logger
    }

    /// Runs until `stop` is requested (or, with `exitWhenIdle`, until the queue has nothing runnable).
    /// Returns the number of jobs this worker completed.
    @discardableResult
    public func run(stop: StopSignal) async -> Int {
        var completed = 0
        logger.info("worker \(settings.owner) started (lease \(Int(settings.leaseDuration)) s)")
        while !stop.isRequested {
            settings.alive?()
            let claimed: ClaimedJob?
            do {
                claimed = try await catalog.claim(owner: settings.owner, leaseDuration: settings.leaseDuration, kinds: nil)
            } catch {
                logger.error("claiming failed: \(error); retrying")
                await stop.sleep(settings.pollInterval)
                continue
            }
            guard let claimed else {
                if settings.exitWhenIdle, (try? await hasPendingWork()) == false { break }
                await waitForWork(stop: stop)
                continue
            }
            if await execute(claimed, stop: stop) { completed += 1 }
        }
        logger.info("worker \(settings.owner) stopped after \(completed) jobs")
        return completed
    }

    /// Idle: until the catalog announces work (an upload registered, a piece done that enqueued more, on
    /// any process or host), a stop is requested, or `pollInterval` passes — the fallback for work nobody
    /// announces (a retry's backoff ending, a lease expiring) and for when announcements cannot be heard.
    private func waitForWork(stop: StopSignal) async {
        let poll = settings.pollInterval
        await withTaskGroup(of: Void.self) { [catalog] group in
            group.addTask { _ = await catalog.waitForWork(timeout: .seconds(poll)) }
            group.addTask { await stop.sleep(poll) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waiting jobs (children still running elsewhere) or retries due later keep an idle worker around.
    private func hasPendingWork() async throws -> Bool {
        let depth = try await catalog.queueDepth()
        return (depth[.queued] ?? 0) + (depth[.running] ?? 0) + (depth[.waiting] ?? 0) > 0
    }

    private func execute(_ claimed: ClaimedJob, stop: StopSignal) async -> Bool {
        let job = claimed.job, lease = claimed.lease
        let log = logger.with(job: job)
        log.info("claimed \(job.kind.rawValue) job \(job.id) of video \(job.videoId), attempt \(lease.attempt)")
        let control = JobControl()
        let handlers = JobHandlers(settings: settings, catalog: catalog, logger: log)
        let began = (wall: Date(), cpu: ProcessCPU.seconds())

        // Heartbeat, and the drain deadline, run beside the job.
        let keeper = Task { [settings, catalog] in
            var drainDeadline: Date?
            var lastBeat = Date()
            while !Task.isCancelled && !control.isCancelled {
                try? await Task.sleep(nanoseconds: 100_000_000)
                if stop.isRequested && drainDeadline == nil { drainDeadline = Date().addingTimeInterval(settings.drainTimeout) }
                if let drainDeadline, Date() > drainDeadline {
                    log.warning("drain timeout: giving job \(job.id) back")
                    control.cancel()
                    return true
                }
                // A piece that has stopped moving is not vouched for: no more heartbeats or signs of life,
                // so if it cannot be stopped either, the lease expires and the supervisor replaces us.
                if job.kind != .finalize && control.quietSeconds > settings.stallTimeout {
                    log.error("job \(job.id): no progress for \(Int(settings.stallTimeout)) s; stopping it")
                    control.cancelAsStalled()
                    return false
                }
                guard Date().timeIntervalSince(lastBeat) >= settings.heartbeatInterval else { continue }
                lastBeat = Date()
                do {
                    _ = try await catalog.heartbeat(lease, leaseDuration: settings.leaseDuration, progress: control.progress)
                    settings.alive?()
                } catch CatalogError.leaseLost {
                    log.warning("lost the lease of job \(job.id); abandoning it")
                    control.cancel()
                    return false
                } catch CatalogError.unavailable(let why) {
                    // The database is away (restarting, failing over): the piece goes on, and so do signs
                    // of life; the lease may lapse, and fencing decides who finishes.
                    log.error("heartbeat failed, database unavailable: \(why)")
                    settings.alive?()
                } catch {
                    log.error("heartbeat failed: \(error)")
                }
            }
            return false
        }
        defer { keeper.cancel() }

        do {
            let outcome = try await handlers.run(job, lease: lease, control: control)
            keeper.cancel()
            try await whenCatalogAnswers("recording job \(job.id) as done", stop: stop, log: log) {
                try await catalog.complete(lease, outcome: outcome)
            }
            // The process runs one job at a time, so its CPU time meanwhile is the job's (FFmpeg's threads included).
            log.info("completed \(job.kind.rawValue) job \(job.id) in \(String(format: "%.2f", Date().timeIntervalSince(began.wall))) s, CPU \(String(format: "%.2f", ProcessCPU.seconds() - began.cpu)) s")
            if job.kind == .videoChunk || job.kind == .audio {
                do {
                    let listed = try await handlers.publisher.publishProgress(video: job.videoId)
                    log.info("video \(job.videoId): playlists list \(listed) segments")
                } catch {
                    log.error("publishing playlists of \(job.videoId) failed: \(error)")
                }
            }
            return true
        } catch {
            keeper.cancel()
            let drained = await keeper.value
            await settle(error, lease: lease, drained: drained, stalled: control.stalled, log: log)
            return false
        }
    }

    /// Runs `write` — the record that a job is done — again while the catalog is unavailable (its
    /// database restarting or failing over), every few seconds, until it answers. The work is done and
    /// only its record is missing: failing the job for that would run it again from the start. The
    /// fencing of `complete` still decides, once the catalog answers, whether the lease is still ours.
    /// Gives up (rethrows) on any other error; after `stallTimeout` (the catalog reports every server
    /// error as unavailable, and one that is not an outage must not hold the worker for ever); and once
    /// a stop has waited `drainTimeout`.
    private func whenCatalogAnswers(_ what: String, stop: StopSignal, log: Logger,
                                    _ write: () async throws -> Void) async throws {
        var pause: TimeInterval = 0.5
        var stopSeen: Date?
        let started = Date()
        while true {
            do {
                return try await write()
            } catch CatalogError.unavailable(let why) {
                if Date().timeIntervalSince(started) > settings.stallTimeout { throw CatalogError.unavailable(why) }
                if stop.isRequested {
                    let since = stopSeen ?? Date()
                    stopSeen = since
                    if Date().timeIntervalSince(since) > settings.drainTimeout { throw CatalogError.unavailable(why) }
                }
                log.warning("\(what): the catalog is unavailable (\(why)); trying again in \(pause) s")
                settings.alive?()  // waiting on the database, not hung
                try? await Task.sleep(for: .seconds(pause))
                pause = min(pause * 2, 5)
            }
        }
    }

    /// The reason stored in the catalog is shown to uploaders through the API: it names "the uploaded
    /// file" rather than where the storage root keeps it (the log keeps the full path for operators).
    static func forViewers(_ message: String, root: String) -> String {
        let base = root.hasSuffix("/") ? root : root + "/"
        var text = message
        while let start = text.range(of: base + "originals/") {
            var end = start.upperBound
            while end < text.endIndex, !text[end].isWhitespace, text[end] != ":", text[end] != "," { end = text.index(after: end) }
            // Keep a trailing sentence dot out of the replaced path.
            if end > start.upperBound, text[text.index(before: end)] == "." { end = text.index(before: end) }
            text.replaceSubrange(start.lowerBound..<end, with: "the uploaded file")
        }
        return text.replacingOccurrences(of: base, with: "")
    }

    /// Records why a job did not complete: given back (drain), abandoned (lease lost), or failed.
    private func settle(_ error: any Error, lease: Lease, drained: Bool, stalled: Bool, log: Logger) async {
        do {
            if drained {
                try await catalog.release(lease)
                log.info("released job \(lease.jobId) for another worker")
                return
            }
            if stalled {
                // Retryable: storage that stalled may come back; the attempts are bounded.
                let state = try await catalog.fail(lease, error: "Processing stopped making progress for \(Int(settings.stallTimeout)) s and was stopped; the file may be damaged.", permanent: false)
                log.error("job \(lease.jobId) stalled (\(state.rawValue))")
                return
            }
            switch error {
            case CatalogError.leaseLost:
                log.warning("job \(lease.jobId): lease lost; the newer attempt owns it")
            case let media as MediaError:
                let state = try await catalog.fail(lease, error: Self.forViewers(media.description, root: settings.layout.root.path),
                                                   permanent: media.isPermanent)
                log.error("job \(lease.jobId) failed (\(state.rawValue)): \(media.description)")
            default:
                let state = try await catalog.fail(lease, error: Self.forViewers("\(error)", root: settings.layout.root.path),
                                                   permanent: false)
                log.error("job \(lease.jobId) failed (\(state.rawValue)): \(error)")
            }
        } catch CatalogError.leaseLost {
            log.warning("job \(lease.jobId): lease lost before the failure could be recorded")
        } catch let recording {
            log.error("job \(lease.jobId): could not record its failure (\(error)): \(recording)")
        }
    }
}

extension Logger {
    func with(job: JobRecord) -> Logger {
        var copy = self
        copy[metadataKey: "job"] = "\(job.id)"
        copy[metadataKey: "video"] = "\(job.videoId)"
        return copy
    }
}

/// User + system CPU time of this process so far, in seconds.
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
