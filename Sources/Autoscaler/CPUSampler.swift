import Foundation

/// Host CPU utilisation from `/proc/stat`: the share of time not idle (idle and iowait count as idle)
/// between two readings, over all CPUs.
public struct CPUSampler: Sendable {
    public struct Reading: Sendable, Equatable {
        public var busy: UInt64
        public var total: UInt64
    }

    let path: String

    public init(path: String = "/proc/stat") { self.path = path }

    public func read() throws -> Reading {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let line = text.split(separator: "\n").first else {
            throw CPUSamplerError("cannot read \(path)")
        }
        return try Self.parse(String(line))
    }

    /// `cpu  user nice system idle iowait irq softirq steal guest guest_nice` (guest time is already in user).
    static func parse(_ line: String) throws -> Reading {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.first == "cpu", fields.count >= 5 else { throw CPUSamplerError("unexpected /proc/stat line: \(line)") }
        let values = fields.dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count >= 4 else { throw CPUSamplerError("unexpected /proc/stat line: \(line)") }
        let total = values.reduce(0, +)
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        return Reading(busy: total - idle, total: total)
    }

    /// Utilisation in percent between two readings; nil when no time passed.
    public static func utilisation(from old: Reading, to new: Reading) -> Double? {
        guard new.total > old.total, new.busy >= old.busy else { return nil }
        return min(100, 100 * Double(new.busy - old.busy) / Double(new.total - old.total))
    }
}

public struct CPUSamplerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Samples over a sliding window, averaged the way CloudWatch averages a period.
public struct CPUWindow: Sendable {
    public let length: TimeInterval
    private var samples: [(time: TimeInterval, value: Double)] = []

    public init(length: TimeInterval) { self.length = length }

    public mutating func add(_ value: Double, at time: TimeInterval) {
        samples.append((time, value))
        samples.removeAll { $0.time < time - length }
    }

    /// The average once the samples span at least half the window (a single sample is too noisy).
    public func average(at time: TimeInterval) -> Double? {
        guard let first = samples.first, time - first.time >= length / 2 else { return nil }
        return samples.map(\.value).reduce(0, +) / Double(samples.count)
    }
}
