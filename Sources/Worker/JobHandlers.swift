import Captions
import Catalog
import Foundation
import Logging
import Media
import Profiles
import Storage
import Synchronization

/// What each kind of job does. A handler returns what its completion changes; the worker commits that
/// (fenced by the lease) and then publishes playlists.
struct JobHandlers {
    let settings: WorkerSettings
    let catalog: any Catalog
    let logger: Logger

    var publisher: PlaylistPublisher { PlaylistPublisher(layout: settings.layout, catalog: catalog, segmentDuration: settings.profile.segmentDuration) }

    func run(_ job: JobRecord, lease: Lease, control: JobControl) async throws -> JobOutcome {
        guard let video = try await catalog.video(id: job.videoId) else {
            throw CatalogError.notFound("video \(job.videoId)")
        }
        let source = settings.layout.absolute(video.originalPath).path
        switch job.kind {
        case .plan: return try await plan(video: video, source: source, control: control)
        case .videoChunk:
            try checkSpace()
            return try await chunk(job, video: video, source: source, control: control)
        case .audio:
            try checkSpace()
            return try await audio(video: video, source: source, control: control)
        case .finalize: return try await finalize(video: video, lease: lease)
        case .downloads:
            try checkSpace()
            return try await downloads(video: video, control: control)
        }
    }

    /// Probe, then split: the first segment (short: one keyframe interval) as one piece per group of rungs,
    /// so idle workers encode it side by side; then video chunks of about `chunkSeconds`; one audio job;
    /// and a finalize job that waits for all of them.
    private func plan(video: VideoRecord, source: String, control: JobControl) async throws -> JobOutcome {
        let plan = try await Transcoder.plan(input: source, profile: settings.profile, limits: settings.limits,
                                             deadline: settings.deadline(forMediaSeconds: 0), isCancelled: { control.isCancelled })
        let chunks = plan.hasVideo ? plan.chunks(ofAbout: settings.chunkSeconds) : []
        if chunks.count > settings.maxChunks {
            throw MediaError.exceedsLimit(path: source, detail: "it would take \(chunks.count) pieces of work, more than the \(settings.maxChunks) allowed")
        }
        if plan.probe.streams.contains(where: { $0.kind == .subtitle }) {
            // Subtitles are extras: a stream that cannot be read costs its captions, not the video.
            do {
                try await takeEmbeddedSubtitles(video: video, source: source, control: control)
            } catch {
                if control.isCancelled { throw error }
                logger.warning("the subtitle streams of \(video.id) could not be read: \(error)")
            }
        }
        // Which of them runs first: `JobPriority`.
        var jobs: [NewJob] = []
        for (i, chunk) in chunks.enumerated() {
            let groups: [[String]?] = i == 0 && settings.firstPieceSplit > 1
                ? plan.rungGroups(settings.firstPieceSplit).map { $0 } : [nil]
            for rungs in groups {
                let payload = ChunkPayload(first: chunk.first, end: chunk.end, rungs: groups.count > 1 ? rungs : nil)
                jobs.append(NewJob(kind: .videoChunk, priority: JobPriority.videoChunk(i, videoSeconds: plan.duration),
                                   payload: payload.json))
            }
        }
        if plan.hasAudio { jobs.append(NewJob(kind: .audio, priority: JobPriority.audio(videoSeconds: plan.duration))) }
        let probe = String(decoding: try JSONEncoder().encode(plan.probe), as: UTF8.self)
        let cuts = chunks.map { String(format: "%g", plan.segmentStarts[Int($0.first)]) }.joined(separator: ", ")
        logger.info("planned \(video.id): \(plan.segmentStarts.count) segments, \(jobs.count) pieces (video cut at \(cuts) s), rungs \(plan.rungs)")
        return JobOutcome(enqueue: jobs, parent: NewJob(kind: .finalize, priority: JobPriority.finalize(videoSeconds: plan.duration)),
                          video: VideoUpdate(state: .processing, probeJSON: probe, durationSeconds: plan.duration))
    }

    /// The source's text subtitle streams become caption tracks (`source: embedded`), published with the
    /// video when it is ready. Ids follow the stream index, so a plan that runs again replaces them. None is
    /// the default: Matroska marks every track "default" unless told otherwise, so the flag says little.
    private func takeEmbeddedSubtitles(video: VideoRecord, source: String, control: JobControl) async throws {
        let found = try await Transcoder.subtitles(input: source, limits: settings.limits,
                                                   deadline: settings.deadline(forMediaSeconds: 0), isCancelled: { control.isCancelled })
        let store = CaptionStore(layout: settings.layout)
        for subtitles in found {
            let language = subtitles.language.flatMap { CaptionTrack.isLanguageTag($0) ? $0 : nil } ?? "und"
            let cues = subtitles.lines.map { Cue(start: $0.start, end: $0.end, text: $0.text) }
            let track = CaptionTrack(id: "embedded-\(subtitles.streamIndex)", language: language,
                                     label: subtitles.title ?? (language == "und" ? "Subtitles \(subtitles.streamIndex)" : language),
                                     source: .embedded, isDefault: false,
                                     cueCount: cues.count, created: video.createdAt)
            try await catalog.withVideoLock(videoId: video.id) { try store.add(track, cues: cues, video: video.id) }
        }
        if !found.isEmpty {
            logger.info("took \(found.count) subtitle stream(s) of \(video.id): \(found.map { "\($0.codec) \($0.language ?? "und") (\($0.lines.count) cues)" }.joined(separator: ", "))")
        }
    }

    private func chunk(_ job: JobRecord, video: VideoRecord, source: String, control: JobControl) async throws -> JobOutcome {
        let range: ChunkPayload
        do { range = try ChunkPayload.decode(job.payload) } catch { throw WorkerError.badPayload(job.payload) }
        let result = try await Transcoder.transcode(
            input: source, into: settings.layout.hlsDirectory(video: video.id), profile: settings.profile,
            scope: .videoChunk(range.first, range.end, rungs: range.rungs), limits: settings.limits,
            deadline: settings.deadline(forMediaSeconds: pieceSeconds(range, video: video)),
            progress: { control.report($0.fraction) }, isCancelled: { control.isCancelled })
        if let storyboard = result.storyboard {
            if let error = storyboard.error { logger.warning("storyboard of \(video.id) piece \(range.pieceName): \(error)") }
            do {
                try publisher.saveStoryboard(storyboard, video: video.id, piece: range.pieceName)
            } catch {
                logger.warning("storyboard of \(video.id) piece \(range.pieceName) not recorded: \(error)")
            }
        }
        try publisher.saveManifest(result.parts, video: video.id, piece: range.pieceName)
        return JobOutcome()
    }

    /// The whole audio track in one piece (AAC cannot be cut into chunks without gaps at the joins).
    /// Its finished segments are published while it runs, so playback can start long before it ends.
    private func audio(video: VideoRecord, source: String, control: JobControl) async throws -> JobOutcome {
        let finished = Mutex<[RenditionSummary]>([])
        let partial = Task { [publisher, settings, logger] in
            var published = 0
            var last = Date.distantPast
            while !Task.isCancelled {
                // Looks often, publishes at most every `audioPublishInterval`; the first segment at once,
                // since it may be all a player is waiting for.
                try? await Task.sleep(nanoseconds: 50_000_000)
                let parts = finished.withLock { $0 }
                let count = parts.map(\.segments.count).min() ?? 0
                guard count > published, !Task.isCancelled else { continue }
                guard published == 0 || Date().timeIntervalSince(last) >= settings.audioPublishInterval else { continue }
                last = Date()
                do {
                    // A partial manifest lists only segments already renamed into place.
                    try publisher.savePartialManifest(parts, video: video.id, piece: "audio")
                    try await publisher.publishProgress(video: video.id)
                    published = count
                } catch {
                    logger.warning("publishing the first \(count) audio segments failed: \(error); trying again")
                }
            }
        }
        let result: TranscodeResult
        do {
            result = try await Transcoder.transcode(
                input: source, into: settings.layout.hlsDirectory(video: video.id), profile: settings.profile,
                scope: .audioOnly, limits: settings.limits,
                deadline: settings.deadline(forMediaSeconds: video.durationSeconds ?? 0), progress: { progress in
                    control.report(progress.fraction)
                    finished.withLock { $0 = progress.parts }
                }, isCancelled: { control.isCancelled })
        } catch {
            partial.cancel()
            await partial.value
            throw error
        }
        // The partial publisher is done before the full manifest is written (which then outranks it).
        partial.cancel()
        await partial.value
        try publisher.saveManifest(result.parts, video: video.id, piece: "audio")
        publisher.removePartialManifest(video: video.id, piece: "audio")
        return JobOutcome()
    }

    /// Refuses to start writing segments onto a nearly full storage root: the failure is retryable.
    private func checkSpace() throws {
        guard let available = DiskSpace.available(at: settings.layout.root.path) else { return }
        if available < settings.minFreeBytes { throw WorkerError.diskFull(available: available, reserve: settings.minFreeBytes) }
    }

    /// Seconds of media in a chunk: its segments, or for the open-ended last one what the video has left.
    private func pieceSeconds(_ range: ChunkPayload, video: VideoRecord) -> Double {
        let segment = settings.profile.segmentDuration
        if let end = range.end { return Double(end - range.first) * segment }
        return max(segment, (video.durationSeconds ?? 0) - Double(range.first) * segment)
    }

    private func finalize(video: VideoRecord, lease: Lease) async throws -> JobOutcome {
        let renditions = try await publisher.publishFinal(video: video.id, lease: lease)
        let audio = renditions.first { $0.kind == "audio" }
        let records = renditions.map { r in
            RenditionRecord(
                videoId: video.id, name: r.name, kind: r.kind, width: r.width, height: r.height,
                codecs: r.kind == "video" ? [r.codecs, audio?.codecs].compactMap { $0 }.joined(separator: ",") : r.codecs,
                bandwidth: r.peakBitrate + (r.kind == "video" ? audio?.peakBitrate ?? 0 : 0),
                averageBandwidth: r.averageBitrate + (r.kind == "video" ? audio?.averageBitrate ?? 0 : 0),
                playlistPath: settings.layout.relative(settings.layout.renditionPlaylist(video: video.id, rendition: r.name)))
        }
        let segments = HLSAssembler.contiguousSegments(HLSAssembler.timing(renditions))
        // A storyboard is an extra: without it the video is still ready.
        do {
            if let count = try publisher.publishStoryboard(video: video.id, renditions: renditions) {
                logger.info("storyboard of \(video.id): \(count) thumbnails")
            }
        } catch {
            logger.warning("storyboard of \(video.id) not written: \(error)")
        }
        logger.info("finalized \(video.id): \(renditions.count) renditions, \(segments) segments")
        // Downloads are a job of their own, after the video is ready: playback never waits for them, and
        // their failure (retried by the queue) cannot fail a video that plays.
        let downloads = settings.profile.downloads.isOn ? [NewJob(kind: .downloads, priority: JobPriority.downloads)] : []
        return JobOutcome(enqueue: downloads, video: VideoUpdate(state: .ready, publishedSegments: segments, markPlayable: true),
                          renditions: records)
    }

    /// The static renditions of the profile's `downloads`: the chosen rung (or the tallest made, for a
    /// source that did not reach it) with the audio as one progressive MP4, and the audio alone as
    /// `audio.m4a`, remuxed from the segments the final playlists list. Files the profile no longer
    /// offers are removed.
    private func downloads(video: VideoRecord, control: JobControl) async throws -> JobOutcome {
        let spec = settings.profile.downloads
        let renditions = HLSAssembler.finalRenditions(try publisher.manifests(video: video.id))
        let videos = renditions.filter { $0.kind == "video" && !$0.segments.isEmpty }
        let audio = renditions.first { $0.kind == "audio" && !$0.segments.isEmpty }
        let hls = settings.layout.hlsDirectory(video: video.id)
        let folder = settings.layout.downloadsDirectory(video: video.id)
        let start = renditions.compactMap(\.timeOffset).first
        var wanted: [(name: String, video: RenditionSummary?, audio: RenditionSummary?)] = []
        if let rung = spec.videoRung(among: videos.map { ($0.name, $0.height ?? 0) }),
           let chosen = videos.first(where: { $0.name == rung }) {
            wanted.append(("\(rung).mp4", chosen, audio))
        }
        if spec.audio, let audio { wanted.append(("audio.m4a", nil, audio)) }
        // Only inside the video's folder as it is: a video deleted meanwhile does not get its folder back.
        if !wanted.isEmpty, !FileManager.default.fileExists(atPath: folder.path) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        }
        var made: [String] = []
        let files = Double(wanted.count)
        for (index, file) in wanted.enumerated() {
            let began = Date()
            let result = try await ProgressiveMP4.make(
                video: file.video.map { RenditionFiles($0, in: hls) }, audio: file.audio.map { RenditionFiles($0, in: hls) },
                start: start, to: folder.appendingPathComponent(file.name),
                progress: { control.report((Double(index) + $0) / files) },
                isCancelled: { control.isCancelled })
            made.append("\(file.name) (\(result.bytes >> 10) KiB, \(String(format: "%.2f", result.duration)) s long, "
                + "made in \(String(format: "%.3f", Date().timeIntervalSince(began))) s)")
        }
        let keep = Set(wanted.map(\.name))
        for stale in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where !keep.contains(stale) && !stale.hasPrefix(".") {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(stale))
        }
        logger.info("downloads of \(video.id): \(made.isEmpty ? "none" : made.joined(separator: ", "))")
        return JobOutcome()
    }
}
