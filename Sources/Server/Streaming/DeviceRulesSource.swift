import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Profiles
import Synchronization

/// The operator's device rules (`profiles/devices.yaml`), re-read when the file changes, so rules can
/// be tuned on a running server. A broken edit keeps the last good rules and logs why.
final class DeviceRulesSource: Sendable {
    private struct Loaded {
        var rules: DeviceRules
        var modified: Int64?
        var checked: Date
        /// Decisions of these rules by what the client sent (few distinct clients ask most requests).
        var decided: [DeviceRequest: DeviceChoice] = [:]
    }

    private let file: URL
    private let logger: Logger
    private let loaded: Mutex<Loaded>

    init(file: URL, logger: Logger) {
        self.file = file
        self.logger = logger
        let modified = Self.modification(of: file)
        var rules = DeviceRules.fallback
        do {
            rules = try DeviceRules.loadIfPresent(from: file)
        } catch {
            logger.error("device rules not loaded; every client gets the full ladder", metadata: ["error": "\(error)"])
        }
        loaded = Mutex(Loaded(rules: rules, modified: modified, checked: Date()))
    }

    /// Changes when the rules file does (its modification time), for validators of tailored playlists.
    var version: Int64 { loaded.withLock { $0.modified ?? 0 } }

    var rules: DeviceRules {
        let now = Date()
        let (current, stale) = loaded.withLock { state -> (DeviceRules, Bool) in
            let stale = now.timeIntervalSince(state.checked) > Self.checkInterval
            if stale { state.checked = now }
            return (state.rules, stale)
        }
        guard stale else { return current }
        let modified = Self.modification(of: file)
        guard modified != loaded.withLock({ $0.modified }) else { return current }
        do {
            let fresh = try DeviceRules.loadIfPresent(from: file)
            loaded.withLock { $0.rules = fresh; $0.modified = modified; $0.decided = [:] }
            logger.info("device rules reloaded", metadata: ["file": "\(file.path)", "classes": "\(fresh.classNames)"])
            return fresh
        } catch {
            loaded.withLock { $0.modified = modified }
            logger.error("device rules changed but do not parse; keeping the previous ones", metadata: ["error": "\(error)"])
            return current
        }
    }

    /// The class of the client that sent `headers`; `explicitClass` is the `device` query parameter.
    /// `memoisedOnly` (the fast path, on an event loop): only a decision already made, with rules not due
    /// for a check; otherwise `NotAtHand`, and the router classifies (and memoises) off the event loop.
    func decide(headers: HTTPFields, explicitClass: String?, memoisedOnly: Bool = false) throws -> DeviceChoice {
        let asked = DeviceRequest(
            userAgent: headers[.userAgent],
            mobileHint: headers[Self.mobileHint],
            platformHint: headers[Self.platformHint],
            saveData: DeviceRequest.isSaveDataOn(headers[Self.saveData]),
            explicitClass: explicitClass.flatMap { $0.isEmpty ? nil : $0 })
        // Real clients' hints are a few hundred bytes; a client sending kilobytes is classified every time
        // rather than pinning its headers in the memo.
        let size = [asked.userAgent, asked.mobileHint, asked.platformHint, asked.explicitClass].reduce(0) { $0 + ($1?.utf8.count ?? 0) }
        let memoisable = size <= Self.memoisableHints
        if memoisedOnly {
            guard memoisable, let known = loaded.withLock({ state -> DeviceChoice? in
                Date().timeIntervalSince(state.checked) > Self.checkInterval ? nil : state.decided[asked]
            }) else { throw NotAtHand() }
            return known
        }
        let rules = self.rules  // reloads them if the file changed
        if memoisable, let known = loaded.withLock({ $0.decided[asked] }) { return known }
        do {
            let choice = DeviceChoice(decision: try rules.classify(asked), rulesVersion: version)
            if memoisable {
                loaded.withLock { state in
                    if state.decided.count >= 1000 { state.decided = [:] }
                    state.decided[asked] = choice
                }
            }
            return choice
        } catch {
            throw Problem(.badRequest, error.description)
        }
    }

    /// Seconds between looks at the rules file's modification time.
    static let checkInterval: TimeInterval = 2

    /// Bytes of client hints up to which a decision is memoised.
    static let memoisableHints = 1024

    private static let mobileHint = HTTPField.Name("Sec-CH-UA-Mobile")!
    private static let platformHint = HTTPField.Name("Sec-CH-UA-Platform")!
    private static let saveData = HTTPField.Name("Save-Data")!

    private static func modification(of file: URL) -> Int64? {
        var info = stat()
        guard stat(file.path, &info) == 0 else { return nil }
        return Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}

struct DeviceChoice: Sendable {
    let decision: DeviceDecision
    var name: String { decision.className }
    /// Distinguishes tailored masters in their ETag: the class, Save-Data, and the rules' version (after
    /// an edit of devices.yaml a cached master is not "not modified").
    let tag: String

    init(decision: DeviceDecision, rulesVersion: Int64) {
        self.decision = decision
        tag = "-" + decision.className + (decision.saveData ? "-save-data" : "") + "-" + String(rulesVersion, radix: 16)
    }

    func tailor(_ master: String) -> String { MasterPlaylistTailor.tailor(master, for: decision) }
}
