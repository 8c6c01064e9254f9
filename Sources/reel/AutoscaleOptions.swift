import ArgumentParser
import Autoscaler
import Catalog
import Foundation
import Logging
import Storage

/// The autoscaler's settings, shared by `reel up` and `reel autoscale` (flag > environment > config file).
struct AutoscaleOptions: ParsableArguments {
    @Option(help: "Fewest worker processes (default 1, or min_workers).") var minWorkers: Int?
    @Option(help: "Most worker processes (default 4, or max_workers).") var maxWorkers: Int?
    @Option(help: "Host CPU percentage to steer towards (default 60, or target_cpu).") var targetCpu: Double?
    @Option(help: "Waiting jobs per worker to steer towards (default 2, or backlog_per_worker).") var backlogPerWorker: Double?
    @Option(help: "Pause after a scale-out before another, e.g. 60s (default 60s).") var scaleOutCooldown: String?
    @Option(help: "Pause after any scaling before a scale-in, e.g. 5m (default 300s).") var scaleInCooldown: String?
    @Option(help: "Time a new worker's CPU is not judged, e.g. 60s (default 60s).") var warmup: String?
    @Option(help: "CPU averaging window, e.g. 60s (default 60s).") var cpuWindow: String?
    @Option(help: "Seconds between samples and decisions (default 5s).") var autoscaleInterval: String?
    @Option(help: "A worker with no sign of life (claim attempt or heartbeat) for this long is replaced (default 120s).")
    var hangAfter: String?

    /// The autoscaler with these settings (flag > environment > config file > default).
    func autoscaler(_ settings: Settings, fixedWorkers: Int? = nil, driverName: String, catalog: any Catalog,
                    driver: any WorkerDriver, layout: StorageLayout, logger: Logger) throws -> Autoscaler {
        let (config, interval) = try scalingConfig(settings, fixedWorkers: fixedWorkers)
        var autoscaler = Autoscaler(config: config, driverName: driverName, catalog: catalog, driver: driver, layout: layout, logger: logger)
        autoscaler.interval = interval
        do {
            autoscaler.hangAfter = try settings.seconds(hangAfter, "hang_after", default: autoscaler.hangAfter)
        } catch { throw ValidationError("\(error)") }
        return autoscaler
    }

    func scalingConfig(_ settings: Settings, fixedWorkers: Int? = nil) throws -> (config: ScalingConfig, interval: TimeInterval) {
        var config = ScalingConfig()
        do {
            config.minWorkers = try settings.int(minWorkers, "min_workers", default: config.minWorkers)
            config.maxWorkers = try settings.int(maxWorkers, "max_workers", default: config.maxWorkers)
            if let fixed = fixedWorkers {
                config.minWorkers = fixed
                config.maxWorkers = max(fixed, 1)
            }
            config.targetCPU = try settings.double(targetCpu, "target_cpu", default: config.targetCPU)
            config.backlogPerWorker = try settings.double(backlogPerWorker, "backlog_per_worker", default: config.backlogPerWorker)
            config.scaleOutCooldown = try settings.seconds(scaleOutCooldown, "scale_out_cooldown", default: config.scaleOutCooldown)
            config.scaleInCooldown = try settings.seconds(scaleInCooldown, "scale_in_cooldown", default: config.scaleInCooldown)
            config.warmup = try settings.seconds(warmup, "warmup", default: config.warmup)
            config.window = try settings.seconds(cpuWindow, "cpu_window", default: config.window)
            let interval = try settings.seconds(autoscaleInterval, "autoscale_interval", default: 5)
            return (try config.validated(), interval)
        } catch let error as SettingsError {
            throw ValidationError(error.description)
        } catch let error as ScalingConfigError {
            throw ValidationError("autoscaler: \(error)")
        }
    }
}
