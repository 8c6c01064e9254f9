import Foundation
import Testing
@testable import Profiles

/// The shipped profiles/devices.yaml (found from this file's path, like the profiles).
func loadShippedDeviceRules() throws -> DeviceRules {
    try DeviceRules.load(from: URL(fileURLWithPath: profilesDirectory).appendingPathComponent(DeviceRules.fileName))
}

/// The issues `DeviceRules.parse` reports for a YAML text, as `file:line:column: message` (empty if it parses).
func deviceIssues(_ yaml: String) -> [String] {
    do {
        _ = try DeviceRules.parse(yaml: yaml, file: "devices.yaml")
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

@Suite("Device rules: the shipped file and loading")
struct DeviceRulesTests {
    @Test func shippedFileParsesWithTheFourClassesInMatchingOrder() throws {
        let rules = try loadShippedDeviceRules()
        // TVs must come before phones/tablets/desktops: their UAs look like Android or X11 Linux.
        #expect(rules.classes.map(\.name) == ["tv", "phone", "tablet", "desktop"])
        #expect(rules.classNames == ["tv", "phone", "tablet", "desktop", "unknown"])
        for deviceClass in rules.classes {
            #expect(deviceClass.startHeight <= deviceClass.maxHeight, "\(deviceClass.name)")
            #expect(!deviceClass.rules.isEmpty, "\(deviceClass.name) can never be detected")
        }
        let phone = try #require(rules.classes.first { $0.name == "phone" })
        #expect(phone.maxHeight == 720)
        #expect(phone.startHeight == 432)
        let tablet = try #require(rules.classes.first { $0.name == "tablet" })
        #expect(tablet.maxHeight == 1080)
        #expect(rules.saveData == SaveDataRule(maxHeight: 360, maxBandwidth: 800_000))
    }

    @Test func fallbackHasNoClassesAndLeavesEveryoneUntouched() throws {
        #expect(DeviceRules.fallback.classes.isEmpty)
        #expect(DeviceRules.fallback.saveData == nil)
        let iPhone = DeviceRequest(userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", saveData: true)
        #expect(try DeviceRules.fallback.classify(iPhone) == .untouched)
    }

    @Test func loadReportsAMissingFileButLoadIfPresentFallsBack() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/devices.yaml")
        let error = #expect(throws: ProfileError.self) { try DeviceRules.load(from: missing) }
        #expect(error?.description == "/nonexistent/devices.yaml: no such file")
        #expect(try DeviceRules.loadIfPresent(from: missing) == .fallback)
    }

    @Test func minimalFileParses() throws {
        let rules = try DeviceRules.parse(yaml: """
            classes:
              - name: phone
                max_height: 720
                max_bandwidth: 3M
                start_height: 360
                match:
                  - user_agent_any: iPhone
                  - user_agent_regex: '(?i)android.*mobile'
              - name: lowres
                max_height: 360
                start_height: 234
            """, file: "devices.yaml")
        #expect(rules.classes.count == 2)
        #expect(rules.classes[0] == DeviceClass(
            name: "phone",
            rules: [DeviceMatchRule(userAgentAny: ["iPhone"]),
                    DeviceMatchRule(userAgentRegex: UserAgentPattern("(?i)android.*mobile"))],
            maxHeight: 720, maxBandwidth: 3_000_000, startHeight: 360))
        // No `match`: reachable only through ?device=lowres.
        #expect(rules.classes[1].rules.isEmpty)
        #expect(rules.saveData == nil)
    }

    @Test func emptyClassListIsAllowed() throws {
        let rules = try DeviceRules.parse(yaml: "classes: []\nsave_data:\n  max_height: 360\n", file: "devices.yaml")
        #expect(rules.classes.isEmpty)
        #expect(rules.saveData == SaveDataRule(maxHeight: 360))
    }
}

@Suite("Device rules: YAML problems carry file:line:column")
struct DeviceRulesErrorTests {
    @Test func badTypeIsReportedAtTheValue() {
        let found = deviceIssues("""
            classes:
              - name: phone
                max_height: big
                start_height: 360
            """)
        #expect(found == ["devices.yaml:3:17: class 'phone': max_height must be a whole number, got 'big'"])
    }

    @Test func unknownTopLevelKeySuggestsTheRightOne() {
        let found = deviceIssues("""
            clases: []
            """)
        #expect(found == [
            "devices.yaml:1:1: unknown key 'clases' (did you mean 'classes'?)",
            "devices.yaml:1:1: missing required key 'classes' (the list of device classes, first match wins)",
        ])
    }

    @Test func unknownFieldInAClassIsReportedAtTheKey() {
        let found = deviceIssues("""
            classes:
              - name: tablet
                max_heigth: 1080
                max_height: 1080
                start_height: 540
            """)
        #expect(found == ["devices.yaml:3:5: class 'tablet': unknown key 'max_heigth' (did you mean 'max_height'?)"])
    }

    @Test func unknownConditionInARuleListsTheValidOnes() {
        let found = deviceIssues("""
            classes:
              - name: phone
                max_height: 720
                start_height: 360
                match:
                  - user_agent: iPhone
            """)
        #expect(found == [
            "devices.yaml:6:9: class 'phone': match #1: unknown key 'user_agent' (expected one of: "
                + "user_agent_any, user_agent_all, user_agent_none, user_agent_regex, mobile_hint, platform)",
        ])
    }

    @Test func missingRequiredFieldIsReportedAtTheClass() {
        let found = deviceIssues("""
            classes:
              - name: tv
                max_height: 2160
              - max_height: 720
                start_height: 360
            """)
        #expect(found == [
            "devices.yaml:2:5: class 'tv': missing required key 'start_height'",
            "devices.yaml:4:5: class #2: missing required key 'name'",
        ])
    }

    @Test func inconsistentOrReservedValuesAreReported() {
        let found = deviceIssues("""
            classes:
              - name: phone
                max_height: 720
                start_height: 1080
              - name: phone
                max_height: 720
                start_height: 360
              - name: unknown
                max_height: 720
                start_height: 360
              - name: Big TV
                max_height: 720
                start_height: 360
            """)
        #expect(found == [
            "devices.yaml:4:19: class 'phone': start_height (1080) must not be above max_height (720)",
            "devices.yaml:5:11: class 'phone': duplicate class name (first used at line 2)",
            "devices.yaml:8:11: class 'unknown': 'unknown' is reserved for clients no class matches "
                + "(they get the full ladder); pick another name",
            "devices.yaml:11:11: class 'Big TV': name 'Big TV' may only use lowercase letters, digits, '-' and '_' "
                + "(it is what ?device= takes)",
        ])
    }

    @Test func badRulesAreReportedAtTheirNodes() {
        let found = deviceIssues("""
            classes:
              - name: phone
                max_height: 720
                start_height: 360
                match:
                  - user_agent_regex: '(unclosed'
                  - mobile_hint: "?1"
                  - {}
                  - user_agent_any: ["", iPhone]
                  - platform: []
            """)
        #expect(found == [
            "devices.yaml:6:27: class 'phone': match #1: user_agent_regex '(unclosed' is not a valid regular expression",
            "devices.yaml:7:22: class 'phone': match #2: mobile_hint must be true (Sec-CH-UA-Mobile: ?1) or false (?0), got '?1'",
            "devices.yaml:8:9: class 'phone': match #3: a rule needs at least one condition "
                + "(user_agent_any, user_agent_all, user_agent_none, user_agent_regex, mobile_hint, platform)",
            "devices.yaml:9:26: class 'phone': match #4: user_agent_any must not contain an empty text (it would match everything)",
            "devices.yaml:10:19: class 'phone': match #5: platform is an empty list; remove the key or add values",
        ])
    }

    @Test func wrongShapesAreReported() {
        #expect(deviceIssues("classes: phone\n") == [
            "devices.yaml:1:10: classes must be a list of device classes (each item starting with '- '), got 'phone'",
        ])
        #expect(deviceIssues("- phone\n") == [
            "devices.yaml:1:1: the file must be a mapping with 'classes' and 'save_data', got a list",
        ])
        #expect(deviceIssues("classes: []\nsave_data:\n  max_bandwidth: lots\n  start: lowest\n") == [
            "devices.yaml:3:18: save_data: max_bandwidth must be a bitrate like 145k, 6M or 6000000, got 'lots'",
            "devices.yaml:4:3: save_data: unknown key 'start' (expected one of: max_height, max_bandwidth)",
        ])
        #expect(deviceIssues("") == [
            "devices.yaml:1:1: the file is empty; it needs a 'classes' list (or delete it: every client then gets the full ladder)",
        ])
    }

    @Test func syntaxErrorsCarryTheirPosition() {
        let found = deviceIssues("classes:\n  - name: [phone\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("devices.yaml:3:1: invalid YAML:") == true, "\(found)")
    }
}
