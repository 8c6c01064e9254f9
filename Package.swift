// swift-tools-version: 6.1
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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // Hummingbird's own transport; the server adds channel handlers of its own (sendfile, 100-continue).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // The catalog on a PostgreSQL server, for several hosts.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Webhook deliveries: outgoing HTTP(S) with connect/read timeouts and no redirects.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // FFmpeg 5.1 C libraries, found with pkg-config; shim.h wraps the macros Swift cannot import.
        // libavfilter is not linked: CFFmpegFilters loads it when a picture first needs a filter (its
        // headers still come with libavfilter-dev).
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavfilter-dev", "libswscale-dev", "libavutil-dev", "libswresample-dev"])]
        ),
        .target(name: "CFFmpegFilters"),
        // zlib, for gzip'd playlists.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Rendition ladders from profiles/*.yaml and the choice of rungs for a source.
        .target(name: "Profiles", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Probe, decode → scale → encode → CMAF/HLS packaging over FFmpeg.
        .target(name: "Media", dependencies: ["CFFmpeg", "CFFmpegFilters", "Profiles", .product(name: "Logging", package: "swift-log")]),
        // The storage root: its layout, atomic publish (stage, fsync, rename), free space, network filesystems,
        // and the autoscaler's status files (written by Autoscaler, read by Server).
        .target(name: "Storage", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Videos, renditions and the job queue (leases, heartbeats, retries) behind one protocol; SQLite via GRDB.
        // SQLite (GRDB) is the embedded default; PostgreSQL (postgres-nio) holds it for a fleet.
        .target(name: "Catalog", dependencies: ["Storage", .product(name: "GRDB", package: "GRDB.swift"),
                                                .product(name: "PostgresNIO", package: "postgres-nio"),
                                                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                                                .product(name: "Logging", package: "swift-log")]),
        // The job loop: claim → transcode a piece → publish → complete; heartbeats, drain on SIGTERM.
        // Caption files (WebVTT, SRT) to cues, segmented WebVTT, the master's SUBTITLES group.
        .target(name: "Captions", dependencies: ["Storage"]),
        // `reel backup`, `reel restore`, `reel verify`: the catalog and the originals, checked by SHA-256.
        .target(name: "Backup", dependencies: ["Catalog", "Storage"]),
        .target(name: "Worker", dependencies: ["Media", "Catalog", "Storage", "Profiles", "Captions",
                                               .product(name: "Logging", package: "swift-log")]),
        // Webhook sending: signatures, the address policy, one delivery attempt, the retry schedule.
        .target(name: "Webhooks", dependencies: [.product(name: "Crypto", package: "swift-crypto"),
                                                 .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                                 .product(name: "NIOCore", package: "swift-nio"),
                                                 .product(name: "NIOPosix", package: "swift-nio"),
                                                 .product(name: "NIOHTTP1", package: "swift-nio")]),
        // Keeps between min and max worker processes on CPU and backlog, like an ASG's target tracking.
        .target(name: "Autoscaler", dependencies: ["Catalog", "Storage", .product(name: "Logging", package: "swift-log")]),
        // The HTTP front end: tus uploads, the videos API, the streaming handler, pages, health and metrics.
        .target(
            name: "Server",
            dependencies: [
                "Catalog", "Storage", "Profiles", "CZlib", "Captions", "Webhooks",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The pages are compiled into the binary by the EmbedPages plugin, not shipped as resources.
            exclude: ["Pages"],
            plugins: ["EmbedPages"]
        ),
        .executableTarget(
            name: "reel",
            dependencies: [
                "Media", "Profiles", "Storage", "Catalog", "Worker", "Server", "Autoscaler", "Backup",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Build-time tool and plugin that compile Sources/Server/Pages into the Server target.
        .executableTarget(name: "EmbedFiles"),
        .plugin(name: "EmbedPages", capability: .buildTool(), dependencies: ["EmbedFiles"]),
        // Helpers the test suites share: running tools with deadlines, ffprobe, fixture paths.
        .target(name: "ReelTestSupport", path: "Tests/Support"),
        .testTarget(name: "ProfilesTests", dependencies: ["Profiles"]),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog", "ReelTestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Catalog", "Storage", "Media", "Profiles", "ReelTestSupport"]),
        .testTarget(name: "AutoscalerTests", dependencies: ["Autoscaler", "Catalog", "Storage", "ReelTestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Catalog", "Storage", "Profiles", "Captions", "ReelTestSupport",
                                                  // `app.test(.router)`: the router called in-process.
                                                  .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                  // Reads docs/openapi.yaml to hold the response types to it.
                                                  .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "CaptionsTests", dependencies: ["Captions", "Storage", "Profiles"]),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "Profiles", "Storage", "ReelTestSupport"]),
    ]
)
