import CFFmpeg
import Foundation
import Profiles

/// Makes a piece's storyboard thumbnails from pictures the ladder already has (never a second decode):
/// each is scaled straight into its cell of a sprite sheet, and a sheet is encoded as a JPEG when it is
/// full or the piece ends (`storyboard/<first index>.jpg`, only as large as its tiles). One thread only.
final class StoryboardWriter {
    let spec: StoryboardSpec
    let size: (width: Int, height: Int)
    private let interval: Rational
    private let directory: URL
    private(set) var tiles: [StoryboardTile] = []
    /// Index of the next thumbnail wanted: the one of `next × interval`.
    private(set) var next: Int64
    private let sheet: UnsafeMutablePointer<AVFrame>
    private var sheetTiles: [StoryboardTile] = []
    private var scaler: OpaquePointer?

    /// `start`: the piece's first output time; its first thumbnail is the first at or after it.
    init(spec: StoryboardSpec, size: (width: Int, height: Int), root: URL, from start: Rational) throws(MediaError) {
        self.spec = spec
        self.size = size
        interval = Rational(Int64((spec.interval * 1000).rounded()), 1000)
        directory = root.appendingPathComponent(StoryboardIndex.folder, isDirectory: true)
        next = (start / interval).ceil
        guard let frame = av_frame_alloc() else { throw .internalFailure("out of memory allocating a storyboard sheet") }
        sheet = frame
    }

    deinit {
        sws_freeContext(scaler)
        var f: UnsafeMutablePointer<AVFrame>? = sheet
        av_frame_free(&f)
    }

    /// When the next thumbnail shows.
    var nextTime: Rational { Rational(next) * interval }

    /// Adds `picture` as the next thumbnail.
    func add(_ picture: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        if sheetTiles.isEmpty { try clearSheet() }
        let cell = sheetTiles.count
        let x = cell % spec.columns * size.width
        let y = cell / spec.columns * size.height
        scaler = sws_getCachedContext(
            scaler, picture.pointee.width, picture.pointee.height, AVPixelFormat(rawValue: picture.pointee.format),
            Int32(size.width), Int32(size.height), AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nil, nil, nil)
        guard let scaler else { throw .internalFailure("libswscale cannot make a thumbnail of this picture format") }
        // The cell's corner in each plane (chroma at half size; x and y are even).
        let lines = [sheet.pointee.linesize.0, sheet.pointee.linesize.1, sheet.pointee.linesize.2, 0]
        let planes: [UnsafeMutablePointer<UInt8>?] = [
            sheet.pointee.data.0.map { $0 + y * Int(lines[0]) + x },
            sheet.pointee.data.1.map { $0 + y / 2 * Int(lines[1]) + x / 2 },
            sheet.pointee.data.2.map { $0 + y / 2 * Int(lines[2]) + x / 2 },
            nil,
        ]
        withUnsafePointer(to: &picture.pointee.data) { srcData in
            withUnsafePointer(to: &picture.pointee.linesize) { srcLines in
                _ = sws_scale(scaler, UnsafeRawPointer(srcData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                              UnsafeRawPointer(srcLines).assumingMemoryBound(to: Int32.self),
                              0, picture.pointee.height, planes, lines)
            }
        }
        let first = sheetTiles.first?.index ?? Int(next)
        sheetTiles.append(StoryboardTile(index: Int(next), time: nextTime.seconds, sheet: "\(StoryboardIndex.folder)/\(first).jpg",
                                         x: x, y: y, width: size.width, height: size.height))
        next += 1
        if sheetTiles.count == spec.columns * spec.rows { try writeSheet() }
    }

    /// Writes the last, partly filled sheet.
    func finish() throws(MediaError) {
        if !sheetTiles.isEmpty { try writeSheet() }
    }

    /// A black sheet of the whole grid.
    private func clearSheet() throws(MediaError) {
        let width = Int32(spec.columns * size.width), height = Int32(spec.rows * size.height)
        if sheet.pointee.buf.0 == nil || sheet.pointee.width != width || sheet.pointee.height != height {
            av_frame_unref(sheet)
            sheet.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
            sheet.pointee.width = width
            sheet.pointee.height = height
            if av_frame_get_buffer(sheet, 0) < 0 { throw .internalFailure("out of memory allocating a storyboard sheet") }
        }
        if av_frame_make_writable(sheet) < 0 { throw .internalFailure("out of memory allocating a storyboard sheet") }
        let rows = [Int(height), Int(height) / 2, Int(height) / 2]
        let fill: [Int32] = [0, 128, 128]  // full-range black
        withUnsafeBytes(of: sheet.pointee.data) { planes in
            for p in 0..<3 {
                guard let base = planes.load(fromByteOffset: p * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                                             as: UnsafeMutablePointer<UInt8>?.self) else { continue }
                let stride = Int(p == 0 ? sheet.pointee.linesize.0 : p == 1 ? sheet.pointee.linesize.1 : sheet.pointee.linesize.2)
                memset(base, fill[p], stride * rows[p])
            }
        }
    }

    /// Encodes the used part of the sheet (whole rows; fewer columns when it has fewer tiles than a row).
    private func writeSheet() throws(MediaError) {
        let count = sheetTiles.count
        let (fullWidth, fullHeight) = (sheet.pointee.width, sheet.pointee.height)
        sheet.pointee.width = Int32(min(count, spec.columns) * size.width)
        sheet.pointee.height = Int32((count + spec.columns - 1) / spec.columns * size.height)
        defer { sheet.pointee.width = fullWidth; sheet.pointee.height = fullHeight }
        let bytes = try PosterWriter.jpeg(sheet)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .outputFailed(path: directory.path, reason: error.localizedDescription)
        }
        let file = try SegmentFile(directory: directory, name: "\(sheetTiles[0].index).jpg", index: -1)
        _ = try file.append(bytes)
        try file.close()
        tiles += sheetTiles
        sheetTiles = []
    }
}
