import Foundation

/// What the autoscaler last saw and decided, written to `<data>/autoscaler/<host>.json` after every
/// tick so that `/metrics` (served by any host) and operators can read it. The format lives here, on
/// the storage root's side, so that the server reads it without linking the autoscaler and its drivers.
public struct AutoscalerStatus: Codable, Sendable, Equatable {
    public var host: String
    public var driver: String
    public var dryRun: Bool
    public var minWorkers: Int
    public var maxWorkers: Int
    public var desired: Int
    public var running: Int
    public var cpu: Double?
    public var backlog: Int
    public var lastAction: String
    public var lastReason: String
    /// The reason without its figures ("backlog above target"), fit for a metric label.
    public var lastReasonKind: String?
    public var lastDecisionAt: Date
    /// Scale-outs, scale-ins and replacements since the autoscaler started.
    public var scaleOuts: Int
    public var scaleIns: Int
    public var replacements: Int
    public var updatedAt: Date

    public init(host: String, driver: String, dryRun: Bool, minWorkers: Int, maxWorkers: Int, desired: Int,
                running: Int, cpu: Double?, backlog: Int, lastAction: String, lastReason: String,
                lastReasonKind: String?, lastDecisionAt: Date, scaleOuts: Int, scaleIns: Int, replacements: Int,
                updatedAt: Date) {
        self.host = host; self.driver = driver; self.dryRun = dryRun
        self.minWorkers = minWorkers; self.maxWorkers = maxWorkers; self.desired = desired; self.running = running
        self.cpu = cpu; self.backlog = backlog
        self.lastAction = lastAction; self.lastReason = lastReason; self.lastReasonKind = lastReasonKind
        self.lastDecisionAt = lastDecisionAt
        self.scaleOuts = scaleOuts; self.scaleIns = scaleIns; self.replacements = replacements
        self.updatedAt = updatedAt
    }

    /// Replaces this host's file (readers see the old one or the new one, never half of either).
    public func write(in layout: StorageLayout) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(self), to: layout.autoscalerStatusFile(host: host, dryRun: dryRun))
    }

    /// Every live autoscaler's last status (dry runs left out), by host.
    public static func readAll(in layout: StorageLayout) -> [AutoscalerStatus] {
        let folder = layout.autoscalerDirectory
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasSuffix(StorageLayout.dryRunSuffix) }.compactMap { name in
            FileManager.default.contents(atPath: folder.appendingPathComponent(name).path)
                .flatMap { try? decoder.decode(AutoscalerStatus.self, from: $0) }
        }.sorted { $0.host < $1.host }
    }
}
