import Foundation

extension DeviceRules {
    /// The class for a request and the limits its master playlist gets.
    ///
    /// `?device=NAME` wins over detection (case-insensitive; `unknown` asks for the full ladder).
    /// Otherwise the first class with a matching rule wins; no match → `unknown`, full ladder.
    /// `Save-Data: on` then lowers the caps to the `save_data` section's and starts at the lowest variant.
    public func classify(_ request: DeviceRequest) throws(UnknownDeviceClassError) -> DeviceDecision {
        var decision: DeviceDecision
        let requested = request.explicitClass?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        if !requested.isEmpty {
            if requested == Self.unknownClassName {
                decision = .untouched
            } else if let chosen = classes.first(where: { $0.name == requested }) {
                decision = Self.decision(for: chosen)
            } else {
                throw UnknownDeviceClassError(requested: request.explicitClass ?? "", known: classNames)
            }
        } else if let detected = detectClass(request) {
            decision = Self.decision(for: detected)
        } else {
            decision = .untouched
        }
        if request.saveData, let saveData {
            decision.maxHeight = Self.lower(decision.maxHeight, saveData.maxHeight)
            decision.maxBandwidth = Self.lower(decision.maxBandwidth, saveData.maxBandwidth)
            decision.start = .lowest
            decision.saveData = true
        }
        return decision
    }

    /// The first class (in file order) one of whose rules matches; nil when none does.
    public func detectClass(_ request: DeviceRequest) -> DeviceClass? {
        let facts = RequestFacts(request)
        return classes.first { $0.rules.contains { $0.matches(facts) } }
    }

    private static func decision(for deviceClass: DeviceClass) -> DeviceDecision {
        DeviceDecision(
            className: deviceClass.name, maxHeight: deviceClass.maxHeight, maxBandwidth: deviceClass.maxBandwidth,
            start: .closest(toHeight: deviceClass.startHeight))
    }

    /// The tighter of two optional caps.
    private static func lower(_ a: Int?, _ b: Int?) -> Int? {
        switch (a, b) {
        case let (a?, b?): min(a, b)
        default: a ?? b
        }
    }
}

extension DeviceMatchRule {
    /// True when every condition this rule sets holds for the request.
    public func matches(_ request: DeviceRequest) -> Bool {
        matches(RequestFacts(request))
    }

    fileprivate func matches(_ facts: RequestFacts) -> Bool {
        if !userAgentAny.isEmpty, !userAgentAny.contains(where: facts.userAgentContains) { return false }
        if !userAgentAll.allSatisfy(facts.userAgentContains) { return false }
        if userAgentNone.contains(where: facts.userAgentContains) { return false }
        if let userAgentRegex, !userAgentRegex.matches(facts.userAgent) { return false }
        if let mobileHint, facts.isMobile != mobileHint { return false }
        if !platforms.isEmpty {
            guard let platform = facts.platform, platforms.contains(where: { $0.lowercased() == platform }) else {
                return false
            }
        }
        return true
    }
}

/// The request's headers, normalised once for all rules. A missing User-Agent counts as empty.
private struct RequestFacts {
    let userAgent: String
    let lowercasedUserAgent: String
    let isMobile: Bool?
    /// Lowercased, without quotes.
    let platform: String?

    init(_ request: DeviceRequest) {
        userAgent = request.userAgent ?? ""
        lowercasedUserAgent = userAgent.lowercased()
        isMobile = request.isMobile
        platform = request.platform?.lowercased()
    }

    func userAgentContains(_ text: String) -> Bool {
        lowercasedUserAgent.contains(text.lowercased())
    }
}
