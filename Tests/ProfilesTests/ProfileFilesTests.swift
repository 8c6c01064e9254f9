import Foundation
import Testing
@testable import Profiles

@Suite("Shipped profiles")
struct ProfileFilesTests {
    @Test func defaultLoadsWithTheAppleLadder() throws {
        let profile = try loadShipped("default")
        #expect(profile.name == "default")
        #expect(profile.rungs.map(\.name) == ["234p", "360p", "432p", "540p", "720p", "1080p"])
        #expect(profile.rungs.map(\.height) == [234, 360, 432, 540, 720, 1080])
        #expect(profile.rungs.map(\.videoBitrate) == [145_000, 365_000, 730_000, 2_000_000, 3_000_000, 6_000_000])
        #expect(profile.rungs.map(\.peakBitrate) == [190_000, 475_000, 950_000, 2_600_000, 3_900_000, 7_800_000])
        #expect(profile.rungs.map(\.codecProfile) == ["main", "main", "main", "high", "high", "high"])
        #expect(profile.rungs.map(\.level) == ["3.0", "3.0", "3.1", "3.2", "3.2", "4.2"])
        for rung in profile.rungs {
            #expect(rung.maxFrameRate == (rung.videoBitrate <= 1_100_000 ? 30 : 60), "\(rung.name)")
        }
        #expect(profile.audio == AudioSpec(codec: "aac", bitrate: 128_000, channels: 2, sampleRate: 48_000))
        #expect(profile.segmentDuration == 6)
        #expect(profile.keyframeInterval == 2)
        #expect(profile.preset == "veryfast")
    }

    @Test func smallIsASubsetOfDefault() throws {
        let small = try loadShipped("small")
        let full = try loadShipped("default")
        #expect(small.name == "small")
        #expect(small.rungs.map(\.name) == ["234p", "360p", "540p"])
        for rung in small.rungs {
            #expect(full.rungs.contains(rung), "\(rung.name) differs from default.yaml")
        }
        #expect(small.audio == full.audio)
        #expect(small.segmentDuration == full.segmentDuration)
        #expect(small.keyframeInterval == full.keyframeInterval)
        #expect(small.preset == full.preset)
    }

    @Test func resolveTakesANameOrAPath() throws {
        let byName = try ProfileLoader.resolve("small", profilesDirectory: profilesDirectory)
        let byPath = try ProfileLoader.resolve("\(profilesDirectory)/small.yaml", profilesDirectory: "/nonexistent")
        #expect(byName == byPath)
        #expect(ProfileLoader.availableProfiles(in: profilesDirectory).contains("default"))
    }

    @Test func resolveListsWhatExistsWhenANameIsUnknown() throws {
        let error = #expect(throws: ProfileError.self) {
            try ProfileLoader.resolve("nope", profilesDirectory: profilesDirectory)
        }
        let message = error?.description ?? ""
        #expect(message.contains("no profile named 'nope'"))
        #expect(message.contains("default"))
        #expect(message.contains("small"))
    }

    @Test func loadReportsAMissingFile() {
        let error = #expect(throws: ProfileError.self) {
            try ProfileLoader.load(path: "/nonexistent/x.yaml")
        }
        #expect(error?.description == "/nonexistent/x.yaml: no such file")
    }

    @Test func defaultDirectoryIsFound() {
        // From the package root (where `swift test` runs) this is ./profiles;
        // otherwise it is found above the test executable.
        let directory = ProfileLoader.defaultProfilesDirectory()
        #expect(directory != nil)
        if let directory {
            #expect(ProfileLoader.availableProfiles(in: directory).contains("default"))
        }
    }
}
