import Foundation

/// One CMAF rendition on disk: its init segment and its segment files in order.
public struct RenditionFiles: Sendable, Equatable {
    public var initSegment: String
    public var segments: [String]

    public init(initSegment: String, segments: [String]) {
        self.initSegment = initSegment
        self.segments = segments
    }

    /// The files of a rendition summary (as listed by the final playlists) under the video's folder.
    public init(_ rendition: RenditionSummary, in directory: URL) {
        let folder = directory.appendingPathComponent(rendition.name, isDirectory: true)
        self.init(initSegment: folder.appendingPathComponent("init.mp4").path,
                  segments: rendition.segments.map { folder.appendingPathComponent($0.uri).path })
    }
}

/// What `ProgressiveMP4.write` made.
public struct ProgressiveMP4Result: Sendable, Equatable {
    public var bytes: Int64
    /// Seconds the file plays (the longest track's edit).
    public var duration: Double
}

/// A progressive ("faststart") MP4 remuxed from CMAF segments without re-encoding: `ftyp`, then `moov`
/// with complete sample tables, then one `mdat` with the samples of both tracks interleaved in chunks of
/// about a second, so a player reading from the start never seeks back and forth.
///
/// The HLS outputs have no edit list (every timestamp is shifted by the video's constant offset instead,
/// see `FragmentedMP4Track`); a downloaded file should start at 0, so here each track gets an `elst` edit
/// that starts its presentation at that offset. Both tracks start at the same instant of the shared
/// timeline, so they stay in sync, and the AAC priming before it is skipped.
public enum ProgressiveMP4 {
    /// Writes `video` and/or `audio` into `destination`, whose folder must exist (temporary name, fsync,
    /// rename). `start` is the
    /// constant offset in seconds (`RenditionSummary.timeOffset`); nil takes the video's first
    /// presentation time, or the audio's first decode time. Samples are copied from the segment files
    /// a run at a time: memory holds the sample tables, never the media.
    /// Runs on a thread of its own (blocking file I/O), like a transcode. `progress` gets 0…1 as the
    /// bytes are copied; `isCancelled` is asked between chunks (nothing is left behind then).
    @discardableResult
    public static func make(video: RenditionFiles?, audio: RenditionFiles?, start: Double? = nil, to destination: URL,
                            progress: @escaping @Sendable (Double) -> Void = { _ in },
                            isCancelled: @escaping @Sendable () -> Bool = { false }) async throws(MediaError) -> ProgressiveMP4Result {
        try await Transcoder.onOwnThread { () throws(MediaError) in
            try write(video: video, audio: audio, start: start, to: destination, progress: progress, isCancelled: isCancelled)
        }
    }

    @discardableResult
    public static func write(video: RenditionFiles?, audio: RenditionFiles?, start: Double? = nil,
                             to destination: URL, chunkSeconds: Double = 1,
                             progress: (Double) -> Void = { _ in },
                             isCancelled: () -> Bool = { false }) throws(MediaError) -> ProgressiveMP4Result {
        var tracks: [FragmentedTrackIndex] = []
        if let video { tracks.append(try FragmentedTrackIndex.read(initSegment: video.initSegment, segments: video.segments)) }
        if let audio { tracks.append(try FragmentedTrackIndex.read(initSegment: audio.initSegment, segments: audio.segments)) }
        guard !tracks.isEmpty else { throw .internalFailure("a download needs a video or an audio rendition") }
        let layout = ProgressiveLayout(tracks: tracks, start: start, chunkSeconds: chunkSeconds, audioOnly: video == nil)
        try copy(layout, to: destination, progress: progress, isCancelled: isCancelled)
        return ProgressiveMP4Result(bytes: layout.fileSize, duration: layout.duration)
    }

    private static func copy(_ layout: ProgressiveLayout, to destination: URL, progress: (Double) -> Void,
                             isCancelled: () -> Bool) throws(MediaError) {
        let path = destination.path
        let partial = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(getpid()).part").path
        let out = try OutputFile(path: partial, finalPath: path)
        do throws(MediaError) {
            try out.append(layout.header)
            var sources = SourceFiles()
            defer { sources.closeAll() }
            for chunk in layout.chunks {
                if isCancelled() { throw MediaError.internalFailure("the download was cancelled") }
                progress(Double(out.written) / Double(max(layout.fileSize, 1)))
                let track = layout.tracks[chunk.track]
                var i = chunk.samples.lowerBound
                // Runs of samples that follow each other in one file leave with one read.
                while i < chunk.samples.upperBound {
                    let first = track.samples[i]
                    var length = Int64(first.size)
                    var j = i + 1
                    while j < chunk.samples.upperBound, track.samples[j].file == first.file,
                          track.samples[j].offset == first.offset + length {
                        length += Int64(track.samples[j].size); j += 1
                    }
                    let fd = try sources.descriptor(track: chunk.track, file: first.file, path: track.files[Int(first.file)])
                    try out.copy(from: fd, path: track.files[Int(first.file)], offset: first.offset, count: length)
                    i = j
                }
            }
            guard out.written == layout.fileSize else {
                throw MediaError.internalFailure("the download came out \(out.written) bytes long, not the \(layout.fileSize) planned")
            }
            try out.finish()
        } catch {
            out.abandon()
            throw error
        }
    }

    /// Open segment files, one per track at a time (each track reads its files in order).
    private struct SourceFiles {
        var open: [Int: (file: Int32, fd: Int32)] = [:]

        mutating func descriptor(track: Int, file: Int32, path: String) throws(MediaError) -> Int32 {
            if let current = open[track], current.file == file { return current.fd }
            if let current = open[track] { close(current.fd) }
            open[track] = nil
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
            open[track] = (file, fd)
            return fd
        }

        func closeAll() { for entry in open.values { close(entry.fd) } }
    }
}

/// Where every sample goes, and the boxes before the samples.
struct ProgressiveLayout {
    struct Chunk {
        var track: Int
        var samples: Range<Int>
        var offset: Int64 = 0
    }

    let tracks: [FragmentedTrackIndex]
    let chunks: [Chunk]
    /// `ftyp` + `moov` + the `mdat` header: everything before the first sample.
    let header: [UInt8]
    let fileSize: Int64
    let duration: Double

    init(tracks: [FragmentedTrackIndex], start: Double?, chunkSeconds: Double, audioOnly: Bool) {
        self.tracks = tracks
        // The presentation starts at the same instant on every track.
        let startSeconds = start ?? tracks.first.map { t in
            Double(t.isVideo ? t.firstPTS : t.firstDTS) / Double(t.timescale)
        } ?? 0
        let movieTimescale = tracks.first { $0.isVideo }?.timescale ?? tracks[0].timescale
        var edits: [(mediaTime: Int64, duration: Int64)] = []
        for t in tracks {
            let scale = Double(t.timescale)
            var mediaTime = Int64((startSeconds * scale).rounded())
            // Never before the track's first sample (a video whose first frame is later keeps its own start).
            mediaTime = max(mediaTime, t.isVideo ? t.firstPTS : t.firstDTS)
            let end = t.isVideo ? t.endPTS : t.endDTS
            let mediaSpan = max(end - mediaTime, 0)
            // A progressive file's decode times start at 0 (they are the sum of the stts durations), so
            // the edit's media time counts from the track's first decode time, not from the HLS's zero.
            edits.append((mediaTime - t.firstDTS, Int64((Double(mediaSpan) * Double(movieTimescale) / scale).rounded())))
        }
        let movieDuration = edits.map(\.duration).max() ?? 0
        duration = Double(movieDuration) / Double(movieTimescale)

        // Interleave: every track's samples that decode before the next boundary, video first.
        var chunks: [Chunk] = []
        var next = Array(repeating: 0, count: tracks.count)
        var boundary = chunkSeconds
        let origin = tracks.map { Double($0.firstDTS) / Double($0.timescale) }.min() ?? 0
        while zip(next, tracks).contains(where: { $0 < $1.samples.count }) {
            for (index, t) in tracks.enumerated() {
                let limit = Int64(((origin + boundary) * Double(t.timescale)).rounded(.up))
                var end = next[index]
                while end < t.samples.count, t.samples[end].dts < limit { end += 1 }
                if end > next[index] { chunks.append(Chunk(track: index, samples: next[index]..<end)) }
                next[index] = end
            }
            boundary += chunkSeconds
        }
        let payload = tracks.reduce(Int64(0)) { $0 + $1.payloadBytes }
        var position: Int64 = 0
        for i in chunks.indices {
            chunks[i].offset = position
            position += chunks[i].samples.reduce(Int64(0)) { $0 + Int64(tracks[chunks[i].track].samples[$1].size) }
        }

        let ftyp = Self.fileType(audioOnly: audioOnly)
        let largeMdat = payload + 8 > Int64(UInt32.max)
        let mdatHeaderSize: Int64 = largeMdat ? 16 : 8
        // The moov's size does not depend on the offsets it holds, only on their width: build it once
        // to measure, then again with the real base. 64-bit offsets only when the file needs them.
        func moov(base: Int64, wide: Bool) -> [UInt8] {
            var w = BoxWriter()
            Self.writeMoov(&w, tracks: tracks, chunks: chunks, edits: edits, movieTimescale: movieTimescale,
                           movieDuration: movieDuration, base: base, wide: wide)
            return w.bytes
        }
        var wide = false
        var measured = moov(base: 0, wide: false)
        if Int64(ftyp.count + measured.count) + mdatHeaderSize + payload > Int64(UInt32.max) {
            wide = true
            measured = moov(base: 0, wide: true)
        }
        let base = Int64(ftyp.count + measured.count) + mdatHeaderSize
        var header = ftyp + moov(base: base, wide: wide)
        var mdat = BoxWriter()
        if largeMdat {
            mdat.u32(1); mdat.fourCC("mdat"); mdat.u64(UInt64(payload + 16))
        } else {
            mdat.u32(UInt32(payload + 8)); mdat.fourCC("mdat")
        }
        header += mdat.bytes
        self.header = header
        self.chunks = chunks
        fileSize = Int64(header.count) + payload
    }

    static func fileType(audioOnly: Bool) -> [UInt8] {
        var w = BoxWriter()
        w.box("ftyp") { w in
            if audioOnly {
                w.fourCC("M4A "); w.u32(0)
                for brand in ["M4A ", "mp42", "isom"] { w.fourCC(brand) }
            } else {
                w.fourCC("isom"); w.u32(0x200)
                for brand in ["isom", "iso2", "avc1", "mp41"] { w.fourCC(brand) }
            }
        }
        return w.bytes
    }

    static func writeMoov(_ w: inout BoxWriter, tracks: [FragmentedTrackIndex], chunks: [Chunk],
                          edits: [(mediaTime: Int64, duration: Int64)], movieTimescale: UInt32, movieDuration: Int64,
                          base: Int64, wide: Bool) {
        w.box("moov") { w in
            let v1 = movieDuration > Int64(UInt32.max)
            w.fullBox("mvhd", version: v1 ? 1 : 0, flags: 0) { w in
                w.times(v1, duration: movieDuration, timescale: movieTimescale)
                w.u32(0x0001_0000); w.u16(0x0100)   // rate 1.0, volume 1.0
                w.zeros(10)
                w.unityMatrix()
                w.zeros(24)
                w.u32(UInt32(tracks.count + 1))     // next track ID
            }
            for (index, track) in tracks.enumerated() {
                let own = chunks.filter { $0.track == index }
                writeTrak(&w, track: track, id: UInt32(index + 1), chunks: own, edit: edits[index],
                          movieTimescale: movieTimescale, base: base, wide: wide)
            }
        }
    }

    static func writeTrak(_ w: inout BoxWriter, track: FragmentedTrackIndex, id: UInt32, chunks: [Chunk],
                          edit: (mediaTime: Int64, duration: Int64), movieTimescale: UInt32, base: Int64, wide: Bool) {
        w.box("trak") { w in
            let v1 = edit.duration > Int64(UInt32.max)
            w.fullBox("tkhd", version: v1 ? 1 : 0, flags: 0x3) { w in
                if v1 { w.u64(0); w.u64(0) } else { w.u32(0); w.u32(0) }
                w.u32(id); w.u32(0)
                if v1 { w.u64(UInt64(edit.duration)) } else { w.u32(UInt32(edit.duration)) }
                w.zeros(8)
                w.u16(0); w.u16(0)                  // layer, alternate group
                w.u16(track.isVideo ? 0 : 0x0100)
                w.u16(0)
                w.unityMatrix()
                w.u32(track.isVideo ? track.width : 0); w.u32(track.isVideo ? track.height : 0)
            }
            w.box("edts") { w in
                let wideEdit = v1 || edit.mediaTime > Int64(Int32.max)
                w.fullBox("elst", version: wideEdit ? 1 : 0, flags: 0) { w in
                    w.u32(1)
                    if wideEdit { w.u64(UInt64(edit.duration)); w.u64(UInt64(edit.mediaTime)) }
                    else { w.u32(UInt32(edit.duration)); w.u32(UInt32(edit.mediaTime)) }
                    w.u16(1); w.u16(0)              // rate 1.0
                }
            }
            w.box("mdia") { w in
                let mediaDuration = track.mediaDuration
                let mv1 = mediaDuration > Int64(UInt32.max)
                w.fullBox("mdhd", version: mv1 ? 1 : 0, flags: 0) { w in
                    w.times(mv1, duration: mediaDuration, timescale: track.timescale)
                    w.u16(track.language)
                    w.u16(0)
                }
                w.handler(isVideo: track.isVideo)
                w.box("minf") { w in
                    w.mediaInformationHeader(isVideo: track.isVideo)
                    w.box("stbl") { w in
                        w.raw(track.sampleDescription)
                        writeSampleTables(&w, track: track, chunks: chunks, base: base, wide: wide)
                    }
                }
            }
        }
    }

    static func writeSampleTables(_ w: inout BoxWriter, track: FragmentedTrackIndex, chunks: [Chunk], base: Int64, wide: Bool) {
        let samples = track.samples
        // Decode times: runs of equal durations.
        var stts: [(count: UInt32, delta: UInt32)] = []
        for s in samples {
            if let last = stts.last, last.delta == s.duration { stts[stts.count - 1].count += 1 } else { stts.append((1, s.duration)) }
        }
        w.fullBox("stts", version: 0, flags: 0) { w in
            w.u32(UInt32(stts.count))
            for run in stts { w.u32(run.count); w.u32(run.delta) }
        }
        if samples.contains(where: { $0.compositionOffset != 0 }) {
            var ctts: [(count: UInt32, offset: Int32)] = []
            for s in samples {
                if let last = ctts.last, last.offset == s.compositionOffset { ctts[ctts.count - 1].count += 1 } else { ctts.append((1, s.compositionOffset)) }
            }
            let signed = ctts.contains { $0.offset < 0 }
            w.fullBox("ctts", version: signed ? 1 : 0, flags: 0) { w in
                w.u32(UInt32(ctts.count))
                for run in ctts { w.u32(run.count); w.i32(run.offset) }
            }
        }
        // Sync samples; left out when every sample is one (audio), which means the same.
        if samples.contains(where: { !$0.isSync }) {
            let sync = samples.indices.filter { samples[$0].isSync }
            w.fullBox("stss", version: 0, flags: 0) { w in
                w.u32(UInt32(sync.count))
                for i in sync { w.u32(UInt32(i + 1)) }
            }
        }
        // Samples per chunk: runs of chunks with the same count.
        var stsc: [(firstChunk: UInt32, count: UInt32)] = []
        for (i, chunk) in chunks.enumerated() where stsc.last?.count != UInt32(chunk.samples.count) {
            stsc.append((UInt32(i + 1), UInt32(chunk.samples.count)))
        }
        w.fullBox("stsc", version: 0, flags: 0) { w in
            w.u32(UInt32(stsc.count))
            for run in stsc { w.u32(run.firstChunk); w.u32(run.count); w.u32(1) }
        }
        w.fullBox("stsz", version: 0, flags: 0) { w in
            let first = samples.first?.size ?? 0
            if samples.allSatisfy({ $0.size == first }) {
                w.u32(first); w.u32(UInt32(samples.count))
            } else {
                w.u32(0); w.u32(UInt32(samples.count))
                for s in samples { w.u32(s.size) }
            }
        }
        w.fullBox(wide ? "co64" : "stco", version: 0, flags: 0) { w in
            w.u32(UInt32(chunks.count))
            for chunk in chunks {
                // Truncating only in the pass that measures the moov's size with 32-bit offsets; the one
                // written uses them only when every offset fits.
                if wide { w.u64(UInt64(base + chunk.offset)) } else { w.u32(UInt32(truncatingIfNeeded: base + chunk.offset)) }
            }
        }
    }
}

private extension BoxWriter {
    /// Creation and modification time (0), timescale and duration, in the width `version` 1 or 0 uses.
    mutating func times(_ v1: Bool, duration: Int64, timescale: UInt32) {
        if v1 {
            u64(0); u64(0); u32(timescale); u64(UInt64(duration))
        } else {
            u32(0); u32(0); u32(timescale); u32(UInt32(duration))
        }
    }
}

/// The file being written, under a temporary name until `finish` renames it into place. Writes go
/// through a 4 MiB buffer; samples are read straight into it.
private final class OutputFile {
    let path: String
    let finalPath: String
    private var fd: Int32
    private var buffer: [UInt8]
    private var filled = 0
    private(set) var written: Int64 = 0

    init(path: String, finalPath: String) throws(MediaError) {
        self.path = path
        self.finalPath = finalPath
        buffer = [UInt8](repeating: 0, count: 4 << 20)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw .outputFailed(path: finalPath, reason: String(cString: strerror(errno))) }
    }

    func append(_ bytes: [UInt8]) throws(MediaError) {
        var at = 0
        while at < bytes.count {
            if filled == buffer.count { try flush() }
            let n = min(bytes.count - at, buffer.count - filled)
            buffer.withUnsafeMutableBufferPointer { dst in
                bytes.withUnsafeBufferPointer { src in
                    (dst.baseAddress! + filled).update(from: src.baseAddress! + at, count: n)
                }
            }
            filled += n; at += n; written += Int64(n)
        }
    }

    /// Copies `count` bytes of the file `source` from `offset`.
    func copy(from source: Int32, path sourcePath: String, offset: Int64, count: Int64) throws(MediaError) {
        var done: Int64 = 0
        while done < count {
            if filled == buffer.count { try flush() }
            let want = Int(min(count - done, Int64(buffer.count - filled)))
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress! + filled, want, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: sourcePath, reason: String(cString: strerror(errno)))
            }
            if n == 0 { throw .unreadable(path: sourcePath, reason: "the segment ended early (changed while it was read?)") }
            filled += n; done += Int64(n); written += Int64(n)
        }
    }

    private func flush() throws(MediaError) {
        var at = 0
        while at < filled {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + at, filled - at) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .outputFailed(path: finalPath, reason: String(cString: strerror(errno)))
            }
            at += n
        }
        filled = 0
    }

    /// Flush, fsync, rename into place.
    func finish() throws(MediaError) {
        try flush()
        let synced = fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        _ = Glibc.close(fd)
        fd = -1
        if !synced { unlink(path); throw .outputFailed(path: finalPath, reason: reason) }
        if rename(path, finalPath) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw .outputFailed(path: finalPath, reason: reason)
        }
    }

    /// After a failure: no partial file is left behind.
    func abandon() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
        unlink(path)
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd); unlink(path) } }
}
