import CFFmpeg
import Foundation

/// Encodes one upright picture as a JPEG poster with the MJPEG encoder (storyboard sheets use its `jpeg`).
enum PosterWriter {
    static func write(_ source: UnsafeMutablePointer<AVFrame>, width: Int, height: Int, to url: URL) throws(MediaError) {
        guard var picture = Optional(av_frame_alloc()) else { throw .internalFailure("out of memory") }
        defer { av_frame_free(&picture) }
        guard let picture else { throw .internalFailure("out of memory") }
        picture.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        picture.pointee.width = Int32(width)
        picture.pointee.height = Int32(height)
        guard av_frame_get_buffer(picture, 0) >= 0 else { throw .internalFailure("out of memory") }
        guard let scaler = sws_getContext(source.pointee.width, source.pointee.height, AVPixelFormat(rawValue: source.pointee.format),
                                          Int32(width), Int32(height), AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nil, nil, nil)
        else { throw .internalFailure("cannot scale the poster picture") }
        defer { sws_freeContext(scaler) }
        withFramePlanes(source, picture) { srcData, srcLines, dstData, dstLines in
            _ = sws_scale(scaler, srcData, srcLines, 0, source.pointee.height, dstData, dstLines)
        }
        let data = Data(try jpeg(picture))
        do { try data.write(to: url) } catch { throw .outputFailed(path: url.path, reason: error.localizedDescription) }
    }

    /// The JPEG of a full-range 4:2:0 picture (`AV_PIX_FMT_YUVJ420P`), at the poster's quality.
    static func jpeg(_ picture: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> [UInt8] {
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG),
              var ctx = Optional(avcodec_alloc_context3(encoder)), var packet = Optional(av_packet_alloc())
        else { throw .internalFailure("cannot set up the JPEG encoder") }
        defer { avcodec_free_context(&ctx); av_packet_free(&packet) }
        guard let ctx, let packet else { throw .internalFailure("out of memory") }

        ctx.pointee.width = picture.pointee.width
        ctx.pointee.height = picture.pointee.height
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        ctx.pointee.time_base = AVRational(num: 1, den: 25)
        ctx.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
        ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * 3
        guard avcodec_open2(ctx, encoder, nil) >= 0 else { throw .internalFailure("cannot open the JPEG encoder") }
        picture.pointee.quality = ctx.pointee.global_quality
        picture.pointee.pts = 0
        guard avcodec_send_frame(ctx, picture) >= 0, avcodec_send_frame(ctx, nil) >= 0,
              avcodec_receive_packet(ctx, packet) >= 0
        else { throw .internalFailure("JPEG encoding failed") }
        return Array(UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
    }
}

/// Calls `body` with the plane pointers and line sizes of two frames, as `sws_scale` wants them.
func withFramePlanes(
    _ source: UnsafeMutablePointer<AVFrame>, _ destination: UnsafeMutablePointer<AVFrame>,
    _ body: (UnsafePointer<UnsafePointer<UInt8>?>, UnsafePointer<Int32>, UnsafePointer<UnsafeMutablePointer<UInt8>?>, UnsafePointer<Int32>) -> Void
) {
    withUnsafePointer(to: &source.pointee.data) { srcData in
        withUnsafePointer(to: &source.pointee.linesize) { srcLines in
            withUnsafePointer(to: &destination.pointee.data) { dstData in
                withUnsafePointer(to: &destination.pointee.linesize) { dstLines in
                    body(
                        UnsafeRawPointer(srcData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                        UnsafeRawPointer(srcLines).assumingMemoryBound(to: Int32.self),
                        UnsafeRawPointer(dstData).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                        UnsafeRawPointer(dstLines).assumingMemoryBound(to: Int32.self))
                }
            }
        }
    }
}
