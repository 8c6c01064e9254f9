import Media
import Worker

extension Settings {
    /// The limits on what an upload may claim and how long its pieces may run (config file, `REEL_<KEY>`).
    func applyLimits(to worker: inout WorkerSettings) throws {
        var limits = MediaLimits.standard
        limits.maxDuration = try seconds(nil, "max_duration", default: limits.maxDuration)
        limits.maxDimension = try positive(int(nil, "max_dimension", default: limits.maxDimension), "max_dimension")
        limits.maxPixels = max(limits.maxPixels, limits.maxDimension * limits.maxDimension * 9 / 16)
        limits.maxFrameRate = try double(nil, "max_frame_rate", default: limits.maxFrameRate)
        limits.maxStreams = try positive(int(nil, "max_streams", default: limits.maxStreams), "max_streams")
        worker.limits = limits
        worker.maxChunks = try positive(int(nil, "max_chunks", default: worker.maxChunks), "max_chunks")
        worker.jobTimeoutFactor = try double(nil, "job_timeout_factor", default: worker.jobTimeoutFactor)
        worker.jobTimeoutMinimum = try seconds(nil, "job_timeout_min", default: worker.jobTimeoutMinimum)
        worker.stallTimeout = try seconds(nil, "stall_timeout", default: worker.stallTimeout)
        worker.minFreeBytes = try bytes(nil, "min_free_space", default: worker.minFreeBytes)
        guard limits.maxFrameRate > 0, worker.jobTimeoutFactor > 0 else {
            throw SettingsError("max_frame_rate and job_timeout_factor must be above zero")
        }
    }

    private func positive(_ value: Int, _ key: String) throws -> Int {
        guard value > 0 else { throw SettingsError("\(key) must be above zero, not \(value)") }
        return value
    }
}
