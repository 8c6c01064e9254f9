import ArgumentParser
import Catalog
import Dispatch
import Foundation
import Worker

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run queued jobs until stopped (SIGTERM drains: the running piece finishes or is given back).")

    @OptionGroup var options: DataOptions
    @Option(help: "Rendition profile name or .yaml path (default: default, or profile / $REEL_PROFILE).") var profile: String?
    @Option(help: "Lease length in seconds (default 60, or lease_duration / $REEL_LEASE_DURATION).") var lease: Double?
    @Option(help: "Seconds between heartbeats (default: a third of the lease).") var heartbeat: Double?
    @Option(help: "Seconds of source per video chunk job.") var chunkSeconds: Double = 30
    @Option(help: "Split a video's short first segment into this many groups of rungs, encoded by idle workers side by side (default: this host's cores, at most 4; 1: no split).")
    var firstPieceSplit: Int?
    @Option(help: "Seconds to finish the running piece after SIGTERM before giving it back (default 20, or drain_timeout).")
    var drainTimeout: Double?
    @Flag(help: "Exit when nothing is left to do.") var exitWhenIdle = false
    @Flag(help: .hidden) var supervised = false
    /// Touched at every claim attempt and heartbeat, so the autoscaler can tell a hung worker from a busy one.
    @Option(help: .hidden) var livenessFile: String?
    /// How often the finished part of a running audio job is published (tests shorten it).
    @Option(help: .hidden) var audioPublishInterval: Double = 2

    func run() async throws {
        let logger = try options.logger("reel.worker")
        let catalog = try await options.openCatalog(logger: logger, waitFor: 300)
        let config = try options.settings()
        var settings = WorkerSettings(layout: options.layout, profile: try loadProfile(config.string(profile, "profile") ?? "default"))
        settings.chunkSeconds = chunkSeconds
        if let firstPieceSplit {
            guard firstPieceSplit >= 1 else { throw ValidationError("--first-piece-split must be 1 or more") }
            settings.firstPieceSplit = firstPieceSplit
        }
        settings.audioPublishInterval = max(0.05, audioPublishInterval)
        do {
            // A setting, not only a flag, so that the workers `reel up` starts can be given one too.
            let leaseSeconds = try lease ?? config.seconds(nil, "lease_duration", default: 60)
            guard leaseSeconds > 0 else { throw ValidationError("the lease must be longer than 0 seconds") }
            settings.leaseDuration = leaseSeconds
            settings.heartbeatInterval = heartbeat ?? max(leaseSeconds / 3, 0.2)
            settings.drainTimeout = try drainTimeout ?? config.seconds(nil, "drain_timeout", default: 20)
            try config.applyLimits(to: &settings)
        } catch { throw ValidationError("\(error)") }
        settings.exitWhenIdle = exitWhenIdle
        // Signs of life for whoever supervises: the autoscaler's child driver reads the liveness file,
        // systemd (reel-worker@.service has WatchdogSec=) gets WATCHDOG=1.
        let notifier = SystemdNotifier()
        if livenessFile != nil || notifier != nil {
            settings.alive = {
                if let livenessFile { _ = FileManager.default.createFile(atPath: livenessFile, contents: nil) }
                notifier?.send("WATCHDOG=1")
            }
        }
        let stop = StopSignal()
        // Under `reel up`, Ctrl-C reaches the whole process group: the supervisor decides, with SIGTERM.
        let signals = supervised ? [SIGTERM] : [SIGTERM, SIGINT]
        if supervised { signal(SIGINT, SIG_IGN) }
        let sources = signals.map { signo -> DispatchSourceSignal in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        if supervised {
            // If the supervisor dies (SIGKILL), this process is re-parented: drain and exit rather than
            // keep working unsupervised next to the workers of the next `reel up`.
            let parent = getppid()
            Task.detached {
                while getppid() == parent { try? await Task.sleep(for: .seconds(1)) }
                logger.warning("supervisor gone; draining")
                stop.request()
            }
        }
        await Worker(settings: settings, catalog: catalog, logger: logger).run(stop: stop)
        sources.forEach { $0.cancel() }
    }
}
