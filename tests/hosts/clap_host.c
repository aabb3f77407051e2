/* A minimal CLAP host for the tests, written against the CLAP headers DPF bundles (Debian has no CLAP host).
 * Usage: clap_host PLUGIN.clap RATE BLOCK IN.f32 OUT.f32
 * Loads the bundle, creates its first plugin, activates it, prints "id ...", "latency N" and "param NAME"
 * lines, then processes IN.f32 (planar stereo float32: all of channel 0, then channel 1) block by block, as
 * fast as it can (like an offline render), and writes OUT.f32 in the same layout. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clap/entry.h"
#include "clap/ext/latency.h"
#include "clap/ext/params.h"
#include "clap/plugin-factory.h"
#include "clap/process.h"

static int latency_changes = 0;
static void host_latency_changed(const clap_host_t* host) { (void)host; ++latency_changes; }
static const clap_host_latency_t host_latency = {host_latency_changed};
static const void* host_get_extension(const clap_host_t* host, const char* id)
{
    (void)host;
    return strcmp(id, CLAP_EXT_LATENCY) == 0 ? &host_latency : NULL;  /* DPF requires it of a host */
}
static void host_request(const clap_host_t* host) { (void)host; }
static uint32_t events_size(const clap_input_events_t* list) { (void)list; return 0; }
static const clap_event_header_t* events_get(const clap_input_events_t* list, uint32_t i) { (void)list; (void)i; return NULL; }
static bool events_push(const clap_output_events_t* list, const clap_event_header_t* e) { (void)list; (void)e; return true; }

int main(int argc, char** argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: clap_host PLUGIN.clap RATE BLOCK IN.f32 OUT.f32\n");
        return 2;
    }
    const double rate = atof(argv[2]);
    const uint32_t block = (uint32_t)atoi(argv[3]);
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    const clap_plugin_entry_t* entry = (const clap_plugin_entry_t*)dlsym(lib, "clap_entry");
    if (!entry || !entry->init(argv[1])) { fprintf(stderr, "no clap_entry\n"); return 1; }
    const clap_plugin_factory_t* factory = (const clap_plugin_factory_t*)entry->get_factory(CLAP_PLUGIN_FACTORY_ID);
    if (!factory || factory->get_plugin_count(factory) < 1) { fprintf(stderr, "no plugin in the factory\n"); return 1; }
    const clap_plugin_descriptor_t* desc = factory->get_plugin_descriptor(factory, 0);
    printf("id %s\n", desc->id);
    clap_host_t host = {CLAP_VERSION_INIT, NULL, "dreambridge-test", "dreambridge", "", "1",
                        host_get_extension, host_request, host_request, host_request};
    const clap_plugin_t* plugin = factory->create_plugin(factory, &host, desc->id);
    if (!plugin || !plugin->init(plugin)) { fprintf(stderr, "create/init failed\n"); return 1; }
    const clap_plugin_params_t* params = (const clap_plugin_params_t*)plugin->get_extension(plugin, CLAP_EXT_PARAMS);
    for (uint32_t i = 0; params && i < params->count(plugin); ++i) {
        clap_param_info_t info;
        if (params->get_info(plugin, i, &info))
            printf("param %s\n", info.name);
    }
    if (!plugin->activate(plugin, rate, 1, block) || !plugin->start_processing(plugin)) {
        fprintf(stderr, "activate failed\n");
        return 1;
    }
    const clap_plugin_latency_t* latency = (const clap_plugin_latency_t*)plugin->get_extension(plugin, CLAP_EXT_LATENCY);
    printf("latency %u\n", latency ? latency->get(plugin) : 0u);
    fflush(stdout);

    FILE* in = fopen(argv[4], "rb");
    if (!in) { fprintf(stderr, "cannot read %s\n", argv[4]); return 1; }
    fseek(in, 0, SEEK_END);
    const long n = ftell(in) / (long)sizeof(float) / 2;
    fseek(in, 0, SEEK_SET);
    float* data = malloc(sizeof(float) * 2 * (size_t)n);
    float* out = calloc(2 * (size_t)n, sizeof(float));
    if (fread(data, sizeof(float), 2 * (size_t)n, in) != 2 * (size_t)n) { fprintf(stderr, "short read\n"); return 1; }
    fclose(in);
    clap_input_events_t in_events = {NULL, events_size, events_get};
    clap_output_events_t out_events = {NULL, events_push};
    for (long start = 0; start < n; start += block) {
        const uint32_t frames = (uint32_t)((n - start) < (long)block ? (n - start) : (long)block);
        float* ins[2] = {data + start, data + n + start};
        float* outs[2] = {out + start, out + n + start};
        clap_audio_buffer_t ibuf = {ins, NULL, 2, 0, 0};
        clap_audio_buffer_t obuf = {outs, NULL, 2, 0, 0};
        clap_process_t process = {start, frames, NULL, &ibuf, &obuf, 1, 1, &in_events, &out_events};
        if (plugin->process(plugin, &process) == CLAP_PROCESS_ERROR) { fprintf(stderr, "process error\n"); return 1; }
    }
    plugin->stop_processing(plugin);
    plugin->deactivate(plugin);
    plugin->destroy(plugin);
    entry->deinit();
    FILE* o = fopen(argv[5], "wb");
    fwrite(out, sizeof(float), 2 * (size_t)n, o);
    fclose(o);
    free(data);
    free(out);
    return 0;
}
