import Foundation
import Storage

/// What the autoscaler last saw and decided, written to `<data>/autoscaler/<host>.json` after every
/// tick so that `/metrics` (served by any host) and operators can read it.
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

    public static func readAll(root: URL) -> [AutoscalerStatus] {
        let folder = StorageLayout(root: root).autoscalerDirectory
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasSuffix(StorageLayout.dryRunSuffix) }.compactMap { name in
            FileManager.default.contents(atPath: folder.appendingPathComponent(name).path)
                .flatMap { try? decoder.decode(AutoscalerStatus.self, from: $0) }
        }.sorted { $0.host < $1.host }
    }
}
