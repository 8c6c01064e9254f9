// Everything Reel uses from FFmpeg 5.1, plus inline wrappers for the macros Swift cannot import.
#ifndef REEL_CFFMPEG_SHIM_H
#define REEL_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
#include <libavutil/audio_fifo.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

static inline int reel_averror(int e) { return AVERROR(e); }
static inline int reel_averror_eof(void) { return AVERROR_EOF; }
static inline int reel_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int reel_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int64_t reel_nopts(void) { return AV_NOPTS_VALUE; }
static inline AVRational reel_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int reel_error_string(int err, char *buf, size_t size) { return av_strerror(err, buf, size); }

// FFmpeg's buffers come from malloc: a worker gives the pages a finished piece freed back to the system
// (glibc keeps them in its per-thread arenas otherwise).
#if defined(__GLIBC__)
#include <malloc.h>
static inline void reel_release_free_heap(void) { malloc_trim(0); }
#else
static inline void reel_release_free_heap(void) {}
#endif

#endif
