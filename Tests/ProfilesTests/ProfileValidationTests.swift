import Testing
@testable import Profiles

@Suite("Profile validation")
struct ProfileValidationTests {
    @Test func validProfileParsesWithDefaults() throws {
        let profile = try ProfileLoader.parse(yaml: validYAML, file: "profiles/tiny.yaml")
        #expect(profile.name == "tiny")  // from the file name when there is no `name:`
        #expect(profile.preset == "veryfast")
        #expect(profile.audio == .standard)
        let rung = try #require(profile.rungs.first)
        #expect(rung.peakBitrate == 475_000)  // 1.3 × 365k, to the nearest kb/s
        #expect(rung.codecProfile == "high")
        #expect(rung.maxFrameRate == 60)
    }

    @Test func rungsAreSortedByHeight() throws {
        let yaml = """
            rungs:
              - { name: big, height: 720, bitrate: 3M, level: "3.2" }
              - { name: little, height: 360, bitrate: 500k, level: "3.1" }
            """
        let profile = try ProfileLoader.parse(yaml: yaml, file: "x.yaml")
        #expect(profile.rungs.map(\.name) == ["little", "big"])
    }

    @Test func unknownKeyPointsAtTheKeyAndSuggestsTheRightOne() {
        let yaml = """
            rungs:
              - name: 360p
                height: 360
                bitrat: 365k
                level: "3.0"
            """
        let found = issues(yaml, file: "profiles/x.yaml")
        #expect(found.map(\.description).contains(
            "profiles/x.yaml:4:5: rung '360p': unknown key 'bitrat' (did you mean 'bitrate'?)"))
        // The typo also leaves the required bitrate missing, reported at the rung.
        #expect(found.contains { $0.line == 2 && $0.column == 5 && $0.message == "rung '360p': missing required key 'bitrate'" })
    }

    @Test func negativeBitratePointsAtTheValue() {
        let yaml = """
            rungs:
              - name: 720p
                height: 720
                bitrate: -500k
                level: "3.2"
            """
        #expect(issues(yaml).map(\.description) == ["test.yaml:4:14: rung '720p': bitrate must be positive, got -500k"])
    }

    @Test func peakBelowBitrate() {
        let yaml = """
            rungs:
              - name: 720p
                height: 720
                bitrate: 3M
                peak: 2000k
                level: "3.2"
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:5:11: rung '720p': peak (2M) must not be below bitrate (3M)",
        ])
    }

    @Test func duplicateNamesAndHeights() {
        let yaml = """
            rungs:
              - name: 360p
                height: 360
                bitrate: 365k
                level: "3.1"
              - name: 360p
                height: 360
                bitrate: 500k
                level: "3.1"
            """
        let found = issues(yaml)
        #expect(found.map(\.description) == [
            "test.yaml:6:11: rung '360p': duplicate rung name (first used at line 2)",
            "test.yaml:7:13: rung '360p': duplicate height 360 (first used at line 3); one rung per height",
        ])
    }

    @Test func badYAMLReportsTheParsersLine() {
        let yaml = """
            segment_duration: 6
            rungs:
              - name: 360p
                height: [360
                bitrate: 365k
            """
        let found = issues(yaml)
        #expect(found.count == 1)
        let issue = found.first
        #expect(issue?.message.hasPrefix("invalid YAML:") == true)
        #expect(issue?.line ?? 0 >= 4 && issue?.line ?? 0 <= 5)
    }

    @Test func badIndentationIsASyntaxError() {
        let yaml = """
            rungs:
              - name: 360p
                height: 360
               bitrate: 365k
            """
        let found = issues(yaml)
        #expect(found.count == 1)
        #expect(found.first?.line == 4)
        #expect(found.first?.message.hasPrefix("invalid YAML:") == true)
    }

    @Test func severalProblemsAreReportedAtOnceInFileOrder() {
        let yaml = """
            name: broken
            segment_duration: 5
            keyframe_interval: 2
            preset: veryfst
            audio:
              codec: mp3
              bitrate: 128k
            rungs:
              - name: 360p
                height: 360p
                bitrate: 365k
                level: "3.0"
              - name: 720p
                height: 720
                bitrate: 3M
                peak: 1M
                profile: extreme
                level: "9.9"
            """
        let found = issues(yaml)
        #expect(found.map { "\($0.line):\($0.column)" } == ["2:19", "4:9", "6:10", "10:13", "16:11", "17:14", "18:12"])
        #expect(found[0].message.contains("whole multiple of keyframe_interval"))
        #expect(found[1].message == "preset 'veryfst' is not one of: ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo")
        #expect(found[2].message == "audio: codec 'mp3' is not one of: aac")
        #expect(found[3].message == "rung '360p': height must be a whole number, got '360p'")
        #expect(found[4].message.hasPrefix("rung '720p': peak (1M) must not be below bitrate (3M)"))
        #expect(found[5].message.hasPrefix("rung '720p': profile 'extreme' is not one of"))
        #expect(found[6].message.hasPrefix("rung '720p': level '9.9' is not an H.264 level"))
    }

    @Test(arguments: [
        ("rungs: []", "1:8", "rungs is empty; a profile needs at least one rung"),
        ("preset: fast", "1:1", "missing required key 'rungs' (the list of renditions)"),
        ("rungs: 3", "1:8", "rungs must be a list of renditions (each item starting with '- '), got '3'"),
        ("", "1:1", "the profile is empty; it needs at least a 'rungs' list"),
        ("- 1\n- 2", "1:1", "the profile must be a mapping of 'key: value' lines, got a list"),
    ])
    func structuralProblems(yaml: String, position: String, message: String) {
        let found = issues(yaml)
        #expect(found.map { "\($0.line):\($0.column) \($0.message)" } == ["\(position) \(message)"])
    }

    @Test func levelMustCoverTheRung() {
        let yaml = """
            rungs:
              - name: 1080p
                height: 1080
                bitrate: 6M
                level: "4.0"
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:5:12: rung '1080p': 1920x1080 at up to 60 fps with peak 7800k needs H.264 level 4.2 or higher, "
                + "but level is 4.0 (raise level, or lower max_fps or peak)",
        ])
    }

    @Test func levelIsNormalised() throws {
        let yaml = """
            rungs:
              - { height: 720, bitrate: 3M, level: 32 }
              - { height: 1080, bitrate: 6M, level: 5, max_fps: 30 }
            """
        let profile = try ProfileLoader.parse(yaml: yaml, file: "x.yaml")
        #expect(profile.rungs.map(\.level) == ["3.2", "5.0"])
        #expect(profile.rungs.map(\.name) == ["720p", "1080p"])
    }

    @Test func segmentMustBeAWholeMultipleOfTheKeyframeInterval() {
        #expect(issues("segment_duration: 6\nkeyframe_interval: 4\n" + "rungs: [{height: 360, bitrate: 1M, level: '3.1'}]")
            .map(\.description) == [
                "test.yaml:1:19: segment_duration (6) must be a whole multiple of keyframe_interval (4) "
                    + "so every segment starts on a keyframe",
            ])
        #expect(issues("segment_duration: 4.5\nkeyframe_interval: 1.5\n" + "rungs: [{height: 360, bitrate: 1M, level: '3.1'}]")
            .isEmpty)
    }

    @Test func repeatedKeyAndOddHeightAndBadName() {
        let yaml = """
            rungs:
              - name: ../evil
                height: 361
                height: 362
                bitrate: 1M
                level: "3.0"
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:2:11: rung '../evil': name '../evil' may only use letters, digits, '-', '_' and '.' "
                + "(it becomes a directory name) and must not start with '.'",
            "test.yaml:3:13: rung '../evil': height must be even (4:2:0 video needs even sizes), got 361",
            "test.yaml:4:5: rung '../evil': key 'height' appears twice (first at line 3)",
        ])
    }

    @Test func tallerRungNeedsMoreBits() {
        let yaml = """
            rungs:
              - { name: a, height: 360, bitrate: 2M, level: "3.1" }
              - { name: b, height: 720, bitrate: 1M, level: "3.2" }
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:3:38: rung 'b': bitrate 1M must be above the 2M of the smaller rung 'a'",
        ])
    }

    @Test func missingValueAndWrongShape() {
        let yaml = """
            audio: stereo
            rungs:
              - name: 360p
                height:
                bitrate: { avg: 1M }
                level: "3.0"
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:1:8: audio must be a mapping of 'key: value' lines, got 'stereo'",
            // An empty value is located just after its key's colon.
            "test.yaml:4:12: rung '360p': height has no value",
            "test.yaml:5:14: rung '360p': bitrate must be a single value, got a mapping",
        ])
    }
}
