import Foundation
import Testing
@testable import Profiles

/// Real User-Agent strings and the class the shipped devices.yaml must give them.
let userAgentTable: [(userAgent: String?, expected: String)] = [
    // Phones
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        + "Version/17.4 Mobile/15E148 Safari/604.1", "phone"),
    ("AppleCoreMedia/1.0.0.21E219 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)", "phone"),
    // What Chromium's phone emulation in the Selenium tests sends.
    ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 "
        + "Mobile Safari/537.36", "phone"),
    // Chrome's reduced User-Agent on Android phones.
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
     "phone"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "phone"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
        + "Chrome/117.0.0.0 Mobile Safari/537.36", "phone"),
    // Tablets
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
        + "Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
     "tablet"),
    ("Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", "tablet"),
    ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 "
        + "like Chrome/124.0.6367.179 Safari/537.36", "tablet"),
    // TVs (several would look like Android phones or Linux desktops if TV did not come first)
    ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36",
     "tv"),
    ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 "
        + "WebAppManager", "tv"),
    ("Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 "
        + "CrKey/1.56.500000", "tv"),
    ("AppleCoreMedia/1.0.0.21L569 (Apple TV; U; CPU OS 17_4 like Mac OS X; en_us)", "tv"),
    ("Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7633.3445N; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        + "Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36", "tv"),
    // Desktops
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
     "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
     "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        + "Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        + "Safari/537.36 Edg/124.0.0.0", "desktop"),
    // Everything else gets the full ladder.
    ("curl/8.5.0", "unknown"),
    ("Lavf/59.27.100", "unknown"),
    ("VLC/3.0.20 LibVLC/3.0.20", "unknown"),
    ("", "unknown"),
    (nil, "unknown"),
]

@Suite("Device classification")
struct DeviceClassificationTests {
    let rules: DeviceRules

    init() throws {
        rules = try loadShippedDeviceRules()
    }

    @Test(arguments: userAgentTable)
    func userAgentGivesTheExpectedClass(_ userAgent: String?, _ expected: String) throws {
        let decision = try rules.classify(DeviceRequest(userAgent: userAgent))
        #expect(decision.className == expected, "\(userAgent ?? "no User-Agent")")
        #expect(decision.saveData == false)
    }

    @Test func aClassGivesItsLimits() throws {
        let phone = try rules.classify(DeviceRequest(userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"))
        #expect(phone == DeviceDecision(className: "phone", maxHeight: 720, start: .closest(toHeight: 432)))
        let unknown = try rules.classify(DeviceRequest(userAgent: "curl/8.5.0"))
        #expect(unknown == .untouched)
        #expect(unknown.leavesMasterUntouched)
    }

    /// Chromium browsers send Client Hints; they decide when the User-Agent says nothing useful.
    @Test(arguments: [
        (mobile: "?1", platform: nil, expected: "phone"),
        (mobile: "?1", platform: "\"Android\"", expected: "phone"),
        (mobile: "?0", platform: "\"Android\"", expected: "tablet"),
        (mobile: "?0", platform: "\"Windows\"", expected: "desktop"),
        (mobile: "?0", platform: "\"Chrome OS\"", expected: "desktop"),
        (mobile: "?0", platform: "macOS", expected: "desktop"),
        (mobile: nil, platform: "\"Android\"", expected: "unknown"),  // needs ?0 as well
        (mobile: "1", platform: nil, expected: "unknown"),            // not a structured boolean
        (mobile: "?0", platform: nil, expected: "unknown"),
    ] as [(mobile: String?, platform: String?, expected: String)])
    func clientHintsClassify(_ mobile: String?, _ platform: String?, _ expected: String) throws {
        let request = DeviceRequest(userAgent: "Mozilla/5.0", mobileHint: mobile, platformHint: platform)
        #expect(try rules.classify(request).className == expected)
    }

    @Test func mobileHintWinsOverADesktopLookingUserAgent() throws {
        // Chrome's "request desktop site" keeps the hint honest.
        let request = DeviceRequest(
            userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            mobileHint: "?1", platformHint: "\"Android\"")
        #expect(try rules.classify(request).className == "phone")
    }

    @Test func saveDataLowersTheCapsAndStartsLowest() throws {
        let iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
        let phone = try rules.classify(DeviceRequest(userAgent: iPhone, saveData: true))
        #expect(phone == DeviceDecision(className: "phone", maxHeight: 360, maxBandwidth: 800_000, start: .lowest, saveData: true))
        // Applies to unknown clients too: the person asked for less data.
        let curl = try rules.classify(DeviceRequest(userAgent: "curl/8.5.0", saveData: true))
        #expect(curl == DeviceDecision(className: "unknown", maxHeight: 360, maxBandwidth: 800_000, start: .lowest, saveData: true))
        // A class with a lower cap keeps it.
        let tight = DeviceRules(
            classes: [DeviceClass(name: "watch", rules: [DeviceMatchRule(userAgentAny: ["Watch"])], maxHeight: 234, startHeight: 234)],
            saveData: SaveDataRule(maxHeight: 360))
        #expect(try tight.classify(DeviceRequest(userAgent: "Watch", saveData: true)).maxHeight == 234)
        // No save_data section: the flag changes nothing.
        let ignoring = DeviceRules(classes: tight.classes)
        let decision = try ignoring.classify(DeviceRequest(userAgent: "Watch", saveData: true))
        #expect(decision == DeviceDecision(className: "watch", maxHeight: 234, start: .closest(toHeight: 234)))
    }

    @Test(arguments: [
        ("on", true), ("On", true), (" on ", true), ("on, foo", true), ("off", false), ("", false), ("yes", false),
    ])
    func saveDataHeaderIsRead(_ header: String, _ expected: Bool) {
        #expect(DeviceRequest.isSaveDataOn(header) == expected)
    }

    @Test func missingSaveDataHeaderIsOff() {
        #expect(DeviceRequest.isSaveDataOn(nil) == false)
    }

    @Test func explicitDeviceOverridesDetection() throws {
        let iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
        #expect(try rules.classify(DeviceRequest(userAgent: iPhone, explicitClass: "tv")).className == "tv")
        #expect(try rules.classify(DeviceRequest(userAgent: "curl/8.5.0", explicitClass: " Phone ")).className == "phone")
        #expect(try rules.classify(DeviceRequest(userAgent: iPhone, explicitClass: "unknown")) == .untouched)
        // An empty ?device= is as if it were not there.
        #expect(try rules.classify(DeviceRequest(userAgent: iPhone, explicitClass: "")).className == "phone")
        // Save-Data still applies to an explicit class.
        let saving = try rules.classify(DeviceRequest(saveData: true, explicitClass: "desktop"))
        #expect(saving.className == "desktop")
        #expect(saving.maxHeight == 360)
    }

    @Test func unknownExplicitDeviceIsAnErrorListingTheKnownClasses() throws {
        let error = #expect(throws: UnknownDeviceClassError.self) {
            try rules.classify(DeviceRequest(userAgent: "curl/8.5.0", explicitClass: "watch"))
        }
        #expect(error?.requested == "watch")
        #expect(error?.description == "unknown device class 'watch'; use one of: tv, phone, tablet, desktop, unknown")
    }

    @Test func fallbackRulesStillRejectUnknownExplicitNames() throws {
        let error = #expect(throws: UnknownDeviceClassError.self) {
            try DeviceRules.fallback.classify(DeviceRequest(explicitClass: "phone"))
        }
        #expect(error?.known == ["unknown"])
    }
}
