import Catalog
import Foundation
import HTTPTypes
import Prometheus
import Storage
import Synchronization

/// What `/metrics` exports. Request counters are updated as requests finish; queue depth, busy workers
/// and job durations are read from the catalog when Prometheus scrapes, so every host behind the load
/// balancer reports the same shared queue.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let uploadBytes: Counter
    /// Of the requests counted in `reel_http_requests_total{route="/hls"}`, those `StreamingFastPath`
    /// answered: a low share means the status or file caches miss.
    let fastAnswers: Counter
    private let lastJobSeen = Mutex<Date?>(nil)
    private let lastDecisionLabels = Mutex<[String: [String]]>([:])

    public init() {
        uploadBytes = registry.makeCounter(descriptor: .init(
            namespace: "reel", metricName: "upload_bytes", unitName: "total",
            helpText: "Upload body bytes written to disk (tus and plain uploads)."))
        fastAnswers = registry.makeCounter(descriptor: .init(
            namespace: "reel", metricName: "http_fast_answers", unitName: "total",
            helpText: "Streaming requests answered on the fast path, with the video's status and the file at hand (also counted in reel_http_requests_total)."))
    }

    /// Routes, not paths, as the label: video ids (or a scanner's random paths) would make the number of
    /// series unbounded. Looks at the first two components only, without splitting the whole path.
    static func route(of path: String) -> String {
        var parts: [Substring] = []
        var rest = path[...].drop(while: { $0 == "/" })
        while parts.count < 3, !rest.isEmpty {
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            parts.append(rest[..<end])
            rest = rest[end...].drop(while: { $0 == "/" })
        }
        switch parts.first ?? "" {
        case "": return "/"
        case "hls", "s": return "/hls"
        case "assets", "watch", "upload": return "/pages"
        case "healthz", "readyz", "metrics": return parts.count == 1 ? "/\(parts[0])" : "other"
        case "v1":
            guard parts.count > 1, parts[1] == "videos" || parts[1] == "uploads" else { return "other" }
            return "/v1/\(parts[1])"
        default: return "other"
        }
    }

    static func method(_ method: HTTPRequest.Method) -> String {
        knownMethods.contains(method.rawValue) ? method.rawValue : "OTHER"
    }

    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    private struct SeriesKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    /// The series of each (method, route, status), made once: asking the registry on every request
    /// costs more than answering a playlist.
    private let series = Mutex<[SeriesKey: RequestSeries]>([:])

    func recordRequest(method: HTTPRequest.Method, path: String, status: Int, seconds: Double) {
        requestSeries(method: method, route: Self.route(of: path), status: status).record(seconds: seconds)
    }

    /// The counter and histogram of one (method, route, status): callers on a hot path keep it.
    struct RequestSeries: Sendable {
        let count: Counter
        let time: DurationHistogram

        func record(seconds: Double) {
            count.increment()
            time.recordNanoseconds(Int64(seconds * 1e9))
        }
    }

    func requestSeries(method: HTTPRequest.Method, route: String, status: Int) -> RequestSeries {
        let key = SeriesKey(method: Self.method(method), route: route, status: status)
        return series.withLock { series in
            if let known = series[key] { return known }
            let made = RequestSeries(
                count: registry.makeCounter(
                    descriptor: .init(namespace: "reel", metricName: "http_requests", unitName: "total",
                                      helpText: "HTTP requests answered."),
                    labels: [("method", key.method), ("route", key.route), ("status", "\(key.status)")]),
                time: registry.makeDurationHistogram(
                    descriptor: .init(namespace: "reel", metricName: "http_request_duration", unitName: "seconds",
                                      helpText: "Time to produce the response head."),
                    labels: [("route", key.route)],
                    buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
                              .milliseconds(500), .seconds(2), .seconds(10)]))
            series[key] = made
            return made
        }
    }

    func recordUpload(bytes: Int) {
        uploadBytes.increment(by: Int64(bytes))
    }

    /// Refreshes the catalog-derived series, then renders everything in the text format.
    /// Two kinds of figures, so that a fleet's scrapes add up: fleet figures (`reel_jobs`, `reel_workers`)
    /// come from the shared catalog and are the same on every node — aggregate them with `max`; node
    /// figures (HTTP, uploads, `reel_node_workers`, job durations of this node's workers, this node's
    /// autoscaler) are this node's own — `sum` them.
    func render(catalog: any Catalog, layout: StorageLayout) async throws -> [UInt8] {
        let node = NodeName.current
        let depth = try await catalog.queueDepth()
        for state in JobState.allCases {
            registry.makeGauge(descriptor: .init(namespace: "reel", metricName: "jobs", unitName: "",
                                                 helpText: "Jobs in the shared queue by state (fleet: the same on every node)."),
                               labels: [("state", state.rawValue)]).set(Double(depth[state] ?? 0))
        }
        let running = try await catalog.jobs(videoId: nil, states: [.running], limit: 10_000)
        let now = Date()
        let owners = Set(running.filter { ($0.leaseExpiresAt ?? .distantPast) > now }.compactMap(\.leaseOwner))
        registry.makeGauge(descriptor: .init(namespace: "reel", metricName: "workers", unitName: "",
                                             helpText: "Workers holding a live lease (fleet: busy workers of every node)."),
                           labels: [("state", "busy")]).set(Double(owners.count))
        registry.makeGauge(descriptor: .init(namespace: "reel", metricName: "node_workers", unitName: "",
                                             helpText: "This node's workers holding a live lease."),
                           labels: [("state", "busy"), ("node", node)])
            .set(Double(owners.filter { Self.isOnNode($0, node) }.count))
        try await recordFinishedJobs(catalog: catalog, node: node)
        recordAutoscaler(layout, node: node)
        return registry.emitToBuffer()
    }

    /// Worker (lease owner) names are `node:pid:nonce`.
    static func isOnNode(_ owner: String, _ node: String) -> Bool { owner.hasPrefix(node + ":") }

    /// What this node's autoscaler last published (`<root>/autoscaler/<node>.json`); other nodes publish theirs.
    private func recordAutoscaler(_ layout: StorageLayout, node: String) {
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
            registry.makeGauge(descriptor: .init(namespace: "reel", subsystem: "autoscaler", metricName: name, unitName: "",
                                                 helpText: help), labels: labels)
        }
        for status in AutoscalerStatus.readAll(in: layout) where status.host == node {
            let host = [("host", status.host)]
            gauge("desired_workers", "Workers the autoscaler wants.", host).set(Double(status.desired))
            gauge("running_workers", "Workers running under the autoscaler.", host).set(Double(status.running))
            gauge("cpu_percent", "Host CPU averaged over the autoscaler's window.", host).set(status.cpu ?? -1)
            gauge("backlog", "Jobs waiting, as the autoscaler last saw them.", host).set(Double(status.backlog))
            for (action, count) in [("scale-out", status.scaleOuts), ("scale-in", status.scaleIns), ("replace", status.replacements)] {
                gauge("actions", "Scaling actions since the autoscaler started.", host + [("action", action)]).set(Double(count))
            }
            gauge("last_decision_timestamp_seconds", "When the last scaling action was decided.", host)
                .set(status.lastDecisionAt.timeIntervalSince1970)
            // A status that stops being refreshed belongs to an autoscaler that stopped: alert on its age.
            gauge("updated_timestamp_seconds", "When the autoscaler last published its status.", host)
                .set(status.updatedAt.timeIntervalSince1970)
            // The last decision as labels (value 1); the previous decision's series drops to 0.
            let labels = [("action", status.lastAction), ("reason", status.lastReasonKind ?? "")]
            let previous = lastDecisionLabels.withLock { seen in
                defer { seen[status.host] = labels.map { "\($0.0)=\($0.1)" } }
                return seen[status.host]
            }
            let help = "The last scaling action and why (1 for the current one, 0 for earlier ones)."
            if let previous, previous != labels.map({ "\($0.0)=\($0.1)" }) {
                let old = previous.map { pair -> (String, String) in
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    return (parts[0], parts.count > 1 ? parts[1] : "")
                }
                gauge("last_decision", help, host + old).set(Double(0))
            }
            gauge("last_decision", help, host + labels).set(Double(1))
        }
    }

    /// Job durations, for jobs that finished since the last scrape. The first scrape only sets the mark: at
    /// the newest finished job, or, when none has finished yet, before any (so the jobs of a fresh
    /// catalog count from the next scrape on instead of never).
    private func recordFinishedJobs(catalog: any Catalog, node: String) async throws {
        let finished = try await catalog.jobs(videoId: nil, states: [.succeeded, .failed, .dead], limit: 500)
        let newest = finished.compactMap(\.finishedAt).max()
        let since: Date? = lastJobSeen.withLock { mark in
            let previous = mark
            if let newest, newest > (mark ?? .distantPast) { mark = newest } else if mark == nil { mark = .distantPast }
            return previous
        }
        guard let since else { return }
        for job in finished {
            guard let end = job.finishedAt, end > since, let start = job.startedAt,
                  let owner = job.leaseOwner, Self.isOnNode(owner, node) else { continue }
            registry.makeValueHistogram(
                descriptor: .init(namespace: "reel", metricName: "job_duration", unitName: "seconds",
                                  helpText: "Wall time of the last attempt of finished jobs."),
                labels: [("kind", job.kind.rawValue), ("state", job.state.rawValue)],
                buckets: [1, 5, 15, 30, 60, 120, 300, 900]
            ).record(end.timeIntervalSince(start))
        }
    }
}
