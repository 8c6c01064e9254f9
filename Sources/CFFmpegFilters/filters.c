#include "reel_filters.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// Each entry has the exact type of the function it stands for, taken from FFmpeg's own declaration.
static struct {
    __typeof__(&avfilter_graph_alloc) graph_alloc;
    __typeof__(&avfilter_graph_free) graph_free;
    __typeof__(&avfilter_get_by_name) get_by_name;
    __typeof__(&avfilter_graph_create_filter) graph_create_filter;
    __typeof__(&avfilter_inout_alloc) inout_alloc;
    __typeof__(&avfilter_inout_free) inout_free;
    __typeof__(&avfilter_graph_parse_ptr) graph_parse_ptr;
    __typeof__(&avfilter_graph_config) graph_config;
    __typeof__(&av_buffersrc_add_frame_flags) buffersrc_add_frame_flags;
    __typeof__(&av_buffersink_get_frame) buffersink_get_frame;
    __typeof__(&av_buffersink_get_time_base) buffersink_get_time_base;
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256];

static void load(void) {
    // The major version the headers were built against: another one would not match these types.
    char name[32];
    snprintf(name, sizeof name, "libavfilter.so.%d", LIBAVFILTER_VERSION_MAJOR);
    // Kept open for the life of the process: graphs may be freed at any time after.
    void *library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *why = dlerror();
        snprintf(failure, sizeof failure, "cannot load %s: %s", name, why ? why : "unknown error");
        return;
    }
#define FIND(field, symbol)                                                                         \
    if (!(api.field = (__typeof__(api.field))dlsym(library, #symbol))) {                            \
        snprintf(failure, sizeof failure, "%s has no %s", name, #symbol);                           \
        return;                                                                                     \
    }
    FIND(graph_alloc, avfilter_graph_alloc)
    FIND(graph_free, avfilter_graph_free)
    FIND(get_by_name, avfilter_get_by_name)
    FIND(graph_create_filter, avfilter_graph_create_filter)
    FIND(inout_alloc, avfilter_inout_alloc)
    FIND(inout_free, avfilter_inout_free)
    FIND(graph_parse_ptr, avfilter_graph_parse_ptr)
    FIND(graph_config, avfilter_graph_config)
    FIND(buffersrc_add_frame_flags, av_buffersrc_add_frame_flags)
    FIND(buffersink_get_frame, av_buffersink_get_frame)
    FIND(buffersink_get_time_base, av_buffersink_get_time_base)
#undef FIND
}

int reel_filters_load(char *reason, size_t size) {
    pthread_once(&once, load);
    if (failure[0] == 0) return 0;
    if (reason && size > 0) snprintf(reason, size, "%s", failure);
    return -1;
}

AVFilterGraph *reel_avfilter_graph_alloc(void) { return api.graph_alloc(); }

void reel_avfilter_graph_free(AVFilterGraph **graph) {
    if (!graph || !*graph) return;
    api.graph_free(graph);
}

const AVFilter *reel_avfilter_get_by_name(const char *name) { return api.get_by_name(name); }

int reel_avfilter_graph_create_filter(AVFilterContext **context, const AVFilter *filter, const char *name,
                                      const char *args, void *opaque, AVFilterGraph *graph) {
    return api.graph_create_filter(context, filter, name, args, opaque, graph);
}

AVFilterInOut *reel_avfilter_inout_alloc(void) { return api.inout_alloc(); }

void reel_avfilter_inout_free(AVFilterInOut **inout) {
    if (!inout || !*inout) return;
    api.inout_free(inout);
}

int reel_avfilter_graph_parse_ptr(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs,
                                  AVFilterInOut **outputs, void *log) {
    return api.graph_parse_ptr(graph, filters, inputs, outputs, log);
}

int reel_avfilter_graph_config(AVFilterGraph *graph, void *log) { return api.graph_config(graph, log); }

int reel_av_buffersrc_add_frame_flags(AVFilterContext *source, AVFrame *frame, int flags) {
    return api.buffersrc_add_frame_flags(source, frame, flags);
}

int reel_av_buffersink_get_frame(AVFilterContext *sink, AVFrame *frame) {
    return api.buffersink_get_frame(sink, frame);
}

AVRational reel_av_buffersink_get_time_base(const AVFilterContext *sink) {
    return api.buffersink_get_time_base(sink);
}
