// libavfilter, loaded the first time a picture needs a filter (deinterlacing, rotation) instead of at
// start-up: linking it pulls in some thirty libraries (flite voices, librsvg, libplacebo…), about 11 MiB
// of resident memory in every reel process, for what most videos never use.
#ifndef REEL_FFMPEG_FILTERS_H
#define REEL_FFMPEG_FILTERS_H

#include <stddef.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>

/// Loads libavfilter once per process. Returns 0, or -1 with a readable reason in `reason`.
int reel_filters_load(char *reason, size_t size);

// The libavfilter calls Reel makes, forwarded to the loaded library. Call reel_filters_load first (and
// check it succeeded); reel_avfilter_graph_free alone may be called without it, on a NULL graph.
AVFilterGraph *reel_avfilter_graph_alloc(void);
void reel_avfilter_graph_free(AVFilterGraph **graph);
const AVFilter *reel_avfilter_get_by_name(const char *name);
int reel_avfilter_graph_create_filter(AVFilterContext **context, const AVFilter *filter, const char *name,
                                      const char *args, void *opaque, AVFilterGraph *graph);
AVFilterInOut *reel_avfilter_inout_alloc(void);
void reel_avfilter_inout_free(AVFilterInOut **inout);
int reel_avfilter_graph_parse_ptr(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs,
                                  AVFilterInOut **outputs, void *log);
int reel_avfilter_graph_config(AVFilterGraph *graph, void *log);
int reel_av_buffersrc_add_frame_flags(AVFilterContext *source, AVFrame *frame, int flags);
int reel_av_buffersink_get_frame(AVFilterContext *sink, AVFrame *frame);
AVRational reel_av_buffersink_get_time_base(const AVFilterContext *sink);

#endif
