import ArgumentParser
import Autoscaler
import Catalog
import Dispatch
import Foundation
import Logging
import ServiceLifecycle

struct AutoscaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoscale",
        abstract: "Keep between min and max workers on this host, scaling on CPU and backlog like an Auto Scaling Group.",
        discussion: """
            --driver child runs the workers as child processes (what `reel up` does); --driver systemd starts and \
            stops reel-worker@N.service instances. SIGTERM stops the autoscaler; child workers drain first.
            """)

    enum Driver: String, ExpressibleByArgument { case child, systemd }

    @OptionGroup var data: DataOptions
    @OptionGroup var scaling: AutoscaleOptions
    @Option(help: "child (worker processes of this one) or systemd (reel-worker@N units).") var driver: Driver = .child
    @Option(help: "Rendition profile for child workers (default: default, or profile / $REEL_PROFILE).") var profile: String?
    @Flag(help: "Print the decisions without starting or stopping anything.") var dryRun = false
    @Option(name: .customLong("worker-option"), help: "An option for every child worker, e.g. --worker-option=--chunk-seconds=10 (repeatable).")
    var workerOptions: [String] = []

    func run() async throws {
        let logger = try data.logger("reel.autoscale")
        let settings = try data.settings()
        let (config, _) = try scaling.scalingConfig(settings)
        let catalog = try await data.openCatalog(logger: logger, waitFor: 300)
        let workerDriver: any WorkerDriver
        switch driver {
        case .child:
            let profileName = settings.string(profile, "profile") ?? "default"
            _ = try loadProfile(profileName)
            workerDriver = ChildProcessDriver(arguments: workerArguments(data: data, settings: settings, profile: profileName) + workerOptions,
                                              drainTimeout: try settings.seconds(nil, "drain_timeout", default: 20), logger: logger)
        case .systemd:
            workerDriver = SystemdDriver(maxWorkers: config.maxWorkers, logger: logger)
        }
        var autoscaler = try scaling.autoscaler(settings, driverName: driver.rawValue, catalog: catalog, driver: workerDriver,
                                                layout: data.layout, logger: logger)
        autoscaler.dryRun = dryRun
        let drain = try settings.seconds(nil, "drain_timeout", default: 20)
        var configuration = ServiceGroupConfiguration(services: [AutoscalerService(autoscaler: autoscaler)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Workers get their drain bound and then SIGKILL; the whole shutdown cannot take longer than that.
        configuration.maximumGracefulShutdownDuration = .seconds(drain + 30)
        let group = ServiceGroup(configuration: configuration)
        try await group.run()
    }
}

/// The autoscaler as a service: graceful shutdown (SIGTERM) stops it, and it drains its workers.
struct AutoscalerService: Service {
    let autoscaler: Autoscaler

    func run() async throws {
        await cancelWhenGracefulShutdown { await autoscaler.run() }
    }
}

/// `reel worker` arguments for child workers: the same storage root, catalog, config and profile.
func workerArguments(data: DataOptions, settings: Settings, profile: String) -> [String] {
    var arguments = ["--data", data.layout.root.path, "--profile", profile]
    if let database = settings.string(data.database, "database_url") { arguments += ["--database", database] }
    if let path = settings.path { arguments += ["--config", path] }
    return arguments
}
