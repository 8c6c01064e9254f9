import Testing
@testable import Profiles

/// The `storyboard:` key of a profile: on by default, switched off, tuned, and refused with line numbers.
@Suite("Profile storyboard key")
struct StoryboardProfileTests {
    @Test func absentKeyMeansTheStandardStoryboard() throws {
        let profile = try ProfileLoader.parse(yaml: validYAML, file: "x.yaml")
        #expect(profile.storyboard == StoryboardSpec(interval: 5, width: 160, columns: 10, rows: 10))
    }

    @Test func shippedProfilesMakeStoryboards() throws {
        #expect(try loadShipped("default").storyboard == .standard)
        #expect(try loadShipped("small").storyboard == .standard)
    }

    @Test(arguments: ["storyboard: off", "storyboard: false", "storyboard: no", "storyboard:\n  enabled: false\n  width: 200"])
    func switchedOff(line: String) throws {
        let profile = try ProfileLoader.parse(yaml: validYAML + "\n" + line, file: "x.yaml")
        #expect(profile.storyboard == nil)
    }

    @Test func keysOverrideTheDefaults() throws {
        let yaml = validYAML + "\nstoryboard:\n  interval: 2.5\n  width: 240\n  columns: 5\n  rows: 4\n"
        let profile = try ProfileLoader.parse(yaml: yaml, file: "x.yaml")
        #expect(profile.storyboard == StoryboardSpec(interval: 2.5, width: 240, columns: 5, rows: 4))
        let partly = try ProfileLoader.parse(yaml: validYAML + "\nstoryboard: {interval: 10}", file: "x.yaml")
        #expect(partly.storyboard == StoryboardSpec(interval: 10, width: 160, columns: 10, rows: 10))
        #expect(try ProfileLoader.parse(yaml: validYAML + "\nstoryboard: on", file: "x.yaml").storyboard == .standard)
    }

    @Test func badValuesPointAtTheirLines() {
        // validYAML is 11 lines; the storyboard key is on line 12.
        let yaml = validYAML + "\nstoryboard:\n  interval: 0.2\n  width: 161\n  columns: 40\n  rows: many\n  enabeld: true\n"
        let found = issues(yaml).map(\.description)
        #expect(found.contains("test.yaml:13:13: storyboard: interval must be between 1 and 600 seconds, got 0.2"))
        #expect(found.contains("test.yaml:14:10: storyboard: width must be even (4:2:0 pictures need even sizes), got 161"))
        #expect(found.contains("test.yaml:15:12: storyboard: columns must be between 1 and 20, got 40"))
        #expect(found.contains("test.yaml:16:9: storyboard: rows must be a whole number, got 'many'"))
        #expect(found.contains("test.yaml:17:3: storyboard: unknown key 'enabeld' (did you mean 'enabled'?)"))
        #expect(found.count == 5, "\(found)")
    }

    @Test func wrongShapeIsRefused() {
        #expect(issues(validYAML + "\nstoryboard: sometimes").map(\.description)
            == ["test.yaml:12:13: storyboard must be 'off', 'on' or a mapping of interval, width, columns and rows, got 'sometimes'"])
        #expect(issues(validYAML + "\nstoryboard:\n  width: 1000").map(\.description)
            == ["test.yaml:13:10: storyboard: width must be between 32 and 640 pixels, got 1000"])
        #expect(issues(validYAML + "\nstoryboard:\n  enabled: maybe").map(\.description)
            == ["test.yaml:13:12: storyboard: enabled must be true or false, got 'maybe'"])
    }

    @Test func thumbnailSizeFollowsTheAspectAndStaysEven() {
        let spec = StoryboardSpec.standard
        #expect(spec.thumbnailSize(forPicture: 1920, 1080) == (160, 90))
        #expect(spec.thumbnailSize(forPicture: 1080, 1920) == (160, 284))
        #expect(spec.thumbnailSize(forPicture: 640, 480) == (160, 120))
        #expect(spec.thumbnailSize(forPicture: 96, 54) == (96, 54))       // never wider than the picture
        #expect(StoryboardSpec(width: 100).thumbnailSize(forPicture: 1280, 720) == (100, 56))
    }
}
