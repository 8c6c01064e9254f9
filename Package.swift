// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Reel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "reel", targets: ["reel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // FFmpeg 5.1 C libraries, found with pkg-config; shim.h wraps the macros Swift cannot import.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavfilter libswscale libavutil libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavfilter-dev", "libswscale-dev", "libavutil-dev", "libswresample-dev"])]
        ),
        // Rendition ladders from profiles/*.yaml and the choice of rungs for a source.
        .target(name: "Profiles", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Probe, decode → scale → encode → CMAF/HLS packaging over FFmpeg.
        .target(name: "Media", dependencies: ["CFFmpeg", "Profiles", .product(name: "Logging", package: "swift-log")]),
        // The storage root: atomic publish (stage, fsync, rename), free space, network filesystems.
        .target(name: "Storage"),
        // Videos, renditions and the job queue (leases, heartbeats, retries) behind one protocol; SQLite via GRDB.
        .target(name: "Catalog", dependencies: ["Storage", .product(name: "GRDB", package: "GRDB.swift"),
                                                .product(name: "Logging", package: "swift-log")]),
        // The job loop: claim → transcode a piece → publish → complete; heartbeats, drain on SIGTERM.
        .target(name: "Worker", dependencies: ["Media", "Catalog", "Storage", "Profiles",
                                               .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "reel",
            dependencies: [
                "Media", "Profiles", "Storage", "Catalog", "Worker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers the test suites share: running tools with deadlines, ffprobe, fixture paths.
        .target(name: "ReelTestSupport", path: "Tests/Support"),
        .testTarget(name: "ProfilesTests", dependencies: ["Profiles"]),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Catalog", "Storage", "Media", "Profiles", "ReelTestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "Profiles", "Storage", "ReelTestSupport"]),
    ]
)
