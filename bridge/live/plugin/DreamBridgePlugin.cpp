// dreambridge: a DPF effect that sends its audio to `dreambridge serve` through shared memory and plays the dream.
//
// One engine process (`dreambridge serve`) dreams for every instance on the machine. This plugin owns a shared
// memory block (a header, a ring of parameter events, an input ring and an output ring) and announces it to the
// engine over a local (unix) socket; the layout and the parameters come from DreamBridgeParams.h, generated from
// the Python side at build time (`dreambridge plugin build`), so both sides read one definition.
//
// Timing. The plugin reports latency D = the engine's stream latency L + a margin M. Output sample t is the
// engine's output at t - M (the dream of input t - D), or, when the engine is missing, late or gone, the input at
// t - D (the same delay), with a short crossfade between the two. A host that renders offline calls faster than
// real time; the plugin then waits for the engine, so a bounce equals `dreambridge dream`. DPF 1.6 does not pass
// the host's offline flag on, so the plugin tells the two apart by the host's pace (see `run`).
// The audio thread never locks, allocates or blocks in real time; the socket lives on a helper thread.

#include "DistrhoPlugin.hpp"
#include "DreamBridgeParams.h"

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

START_NAMESPACE_DISTRHO

static uint64_t nowNs() noexcept
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct DbEvent {
    uint64_t position;
    uint32_t index;
    float value;
};

static void socketPath(char* out, size_t size)
{
    const char* env = std::getenv("DREAMBRIDGE_SOCKET");
    if (env != nullptr && env[0] != '\0') {
        std::snprintf(out, size, "%s", env);
        return;
    }
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    if (runtime != nullptr && runtime[0] != '\0')
        std::snprintf(out, size, "%s/dreambridge/serve.sock", runtime);
    else
        std::snprintf(out, size, "/tmp/dreambridge-%u/serve.sock", unsigned(getuid()));
}

class DreamBridgePlugin : public Plugin
{
public:
    DreamBridgePlugin()
        : Plugin(kDbParamCount, 0, 0)
    {
        for (uint32_t i = 0; i < kDbParamCount; ++i) {
            fValues[i] = kDbParams[i].def;
            fSent[i] = kDbParams[i].def;
            fTouched[i] = false;
        }
    }

    ~DreamBridgePlugin() override
    {
        stopThread();
        disconnect();
        closeSharedMemory();
    }

protected:
    const char* getLabel() const override { return "dreambridge"; }
    const char* getDescription() const override
    {
        return "Audio DeepDream on raw waveforms: the track, dreamed by the dreambridge engine (dreambridge serve).";
    }
    const char* getMaker() const override { return "dreambridge"; }
    const char* getHomePage() const override { return "urn:dreambridge"; }
    const char* getLicense() const override { return "GPL-3.0-or-later"; }
    uint32_t getVersion() const override { return d_version(0, 1, DB_PROTOCOL_VERSION); }
    int64_t getUniqueId() const override { return d_cconst('D', 'r', 'm', '1'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override
    {
        port.groupId = kPortGroupStereo;
        Plugin::initAudioPort(input, index, port);
    }

    void initParameter(uint32_t index, Parameter& parameter) override
    {
        const DbParamInfo& info = kDbParams[index];
        parameter.hints = kParameterIsAutomatable;
        if (info.integer)
            parameter.hints |= kParameterIsInteger;
        if (info.logarithmic)
            parameter.hints |= kParameterIsLogarithmic;
        parameter.name = info.name;
        parameter.symbol = info.symbol;
        parameter.unit = info.unit;
        parameter.description = info.description;
        parameter.ranges.min = info.min;
        parameter.ranges.max = info.max;
        parameter.ranges.def = info.def;
        if (index == kDbPresetParam) {
            ParameterEnumerationValue* const values = new ParameterEnumerationValue[kDbPresetCount];
            for (uint32_t i = 0; i < kDbPresetCount; ++i) {
                values[i].value = float(i);
                values[i].label = kDbPresets[i];
            }
            parameter.enumValues.count = kDbPresetCount;
            parameter.enumValues.restrictedMode = true;
            parameter.enumValues.values = values;
        }
    }

    float getParameterValue(uint32_t index) const override { return fValues[index]; }

    void setParameterValue(uint32_t index, float value) override
    {
        fValues[index] = value;
    }

    // Each activation is a new stream from position 0 (a host resets a plugin this way before a render), in a
    // fresh shared-memory block: the engine's previous attachment may still write to the old one for a moment.
    void activate() override
    {
        if (isDummyInstance())
            return;
        stopThread();
        disconnect();
        closeSharedMemory();
        openSharedMemory();
        if (fMem == nullptr)
            return;
        fRate = getSampleRate();
        fHeader[DB_H_SAMPLE_RATE] = uint64_t(fRate);
        fPos = 0;
        fWet = 0.0f;
        fPace = 0.0;
        fLastStart = fLastWait = 0;
        fLastFrames = 0;
        fRefused = false;
        connectOnce();  // synchronous, so the latency is known before the host asks for it
        const uint32_t latency = fLatency.load();
        if (latency != fReported) {
            fReported = latency;
            setLatency(latency);
        }
        fQuit = false;
        fThread = std::thread(&DreamBridgePlugin::connectionLoop, this);
    }

    void deactivate() override
    {
        stopThread();
        disconnect();
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        const uint64_t start = nowNs();
        if (fMem == nullptr) {
            for (uint32_t c = 0; c < 2; ++c)
                if (outputs[c] != inputs[c])
                    std::memcpy(outputs[c], inputs[c], sizeof(float) * frames);
            return;
        }
        // Pace: wall time per audio time since the last call, without the time this plugin waited. A real-time
        // host calls once per block period (about 1); an offline render calls back to back (about 0).
        if (fLastStart != 0 && fLastFrames != 0 && fRate > 0) {
            const double elapsed = double(start - fLastStart - fLastWait) * 1e-9;
            const double pace = elapsed / (double(fLastFrames) / fRate);
            fPace = 0.5 * fPace + 0.5 * pace;
        }
        const bool offline = fPace < 0.4;
        fHeader[DB_H_MODE] = offline ? 1 : 0;

        const uint32_t latency = fLatency.load(std::memory_order_acquire);
        if (latency != fReported) {
            fReported = latency;
            setLatency(latency);
        }
        const uint64_t t = fPos;
        const uint64_t cap = DB_CAPACITY;
        for (uint32_t i = 0; i < frames; ++i) {
            const uint64_t k = (t + i) % cap;
            fIn[k] = inputs[0][i];
            fIn[cap + k] = inputs[1][i];
        }
        __atomic_store_n(&fHeader[DB_H_IN_WRITE], t + frames, __ATOMIC_RELEASE);
        pushEvents(t);

        const uint64_t margin = fMargin.load(std::memory_order_acquire);
        const bool connected = fConnected.load(std::memory_order_acquire);
        const uint64_t session = __atomic_load_n(&fHeader[DB_H_SESSION], __ATOMIC_ACQUIRE);
        const uint64_t wetFrom = __atomic_load_n(&fHeader[DB_H_WET_FROM], __ATOMIC_ACQUIRE);
        // The output ring holds this session's dream (still readable for a moment after the engine is gone,
        // which is what the fade to dry plays).
        const bool valid = session != 0 && session == fSession.load() && t + frames > margin;
        const uint64_t need = t + frames - margin;  // out positions [t - margin, need)
        uint64_t available = __atomic_load_n(&fHeader[DB_H_OUT_WRITE], __ATOMIC_ACQUIRE);
        uint64_t waited = 0;
        if (valid && connected && offline && available < need) {
            const uint64_t waitStart = nowNs();
            uint64_t lastProgress = waitStart;
            uint64_t seen = available;
            while (available < need && fConnected.load(std::memory_order_acquire)) {
                usleep(100);
                available = __atomic_load_n(&fHeader[DB_H_OUT_WRITE], __ATOMIC_ACQUIRE);
                const uint64_t now = nowNs();
                if (available != seen) {
                    seen = available;
                    lastProgress = now;
                } else if (now - lastProgress > 120000000000ull) {
                    // Two minutes without one finished sample: the engine hangs (a crash closes the socket and
                    // ends the wait at once). Give up on this block (dry) rather than hang the host for good.
                    break;
                }
            }
            waited = nowNs() - waitStart;
        }
        const bool haveBlock = valid && available >= need;
        const bool haveAhead = haveBlock && fConnected.load(std::memory_order_acquire)
                               && (offline || available >= need + DB_FADE_SAMPLES);
        const float target = haveAhead ? 1.0f : 0.0f;
        const float step = 1.0f / float(DB_FADE_SAMPLES);
        if (!haveBlock && fWet > 0.0f) {
            fWet = 0.0f;  // the wet signal vanished without warning: counted, and a click is possible
            __atomic_add_fetch(&fHeader[DB_H_HARD_CUTS], 1, __ATOMIC_RELAXED);
        }
        for (uint32_t i = 0; i < frames; ++i) {
            const uint64_t pos = t + i;
            if (fWet < target)
                fWet = std::fmin(target, fWet + step);
            else if (fWet > target)
                fWet = std::fmax(target, fWet - step);
            float wet = fWet;
            if (pos < wetFrom)
                wet = 0.0f;
            for (uint32_t c = 0; c < 2; ++c) {
                const float dry = pos >= latency ? fIn[c * cap + (pos - latency) % cap] : 0.0f;
                float value = dry;
                if (wet > 0.0f && haveBlock) {
                    const float dream = pos >= margin ? fOut[c * cap + (pos - margin) % cap] : 0.0f;
                    value = wet * dream + (1.0f - wet) * dry;
                }
                outputs[c][i] = value;
            }
        }
        if (!haveAhead)
            __atomic_add_fetch(&fHeader[DB_H_DRY_BLOCKS], 1, __ATOMIC_RELAXED);
        fPos = t + frames;
        fLastStart = start;
        fLastWait = waited;
        fLastFrames = frames;
    }

private:
    // ---- shared memory --------------------------------------------------------------------------------------
    void openSharedMemory()
    {
        static std::atomic<uint32_t> counter{0};
        std::snprintf(fShmName, sizeof(fShmName), "/dreambridge-%d-%u", int(getpid()), counter.fetch_add(1));
        fMemSize = DB_AUDIO_OFFSET + sizeof(float) * 4 * DB_CAPACITY;
        const int fd = shm_open(fShmName, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0)
            return;
        if (ftruncate(fd, off_t(fMemSize)) != 0) {
            close(fd);
            shm_unlink(fShmName);
            return;
        }
        void* mem = mmap(nullptr, fMemSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (mem == MAP_FAILED) {
            shm_unlink(fShmName);
            return;
        }
        std::memset(mem, 0, fMemSize);
        fMem = static_cast<uint8_t*>(mem);
        fHeader = reinterpret_cast<uint64_t*>(fMem);
        fEvents = reinterpret_cast<DbEvent*>(fMem + DB_EVENTS_OFFSET);
        fIn = reinterpret_cast<float*>(fMem + DB_AUDIO_OFFSET);
        fOut = fIn + 2 * DB_CAPACITY;
        fHeader[DB_H_MAGIC] = DB_MAGIC;
        fHeader[DB_H_VERSION] = DB_PROTOCOL_VERSION;
        fHeader[DB_H_CHANNELS] = 2;
        fHeader[DB_H_CAPACITY] = DB_CAPACITY;
        fHeader[DB_H_EVENT_CAPACITY] = DB_EVENT_CAPACITY;
    }

    void closeSharedMemory()
    {
        if (fMem == nullptr)
            return;
        munmap(fMem, fMemSize);
        shm_unlink(fShmName);
        fMem = nullptr;
        fHeader = nullptr;
        fEvents = nullptr;
        fIn = fOut = nullptr;
    }

    void disconnect()
    {
        std::lock_guard<std::mutex> lock(fSocketMutex);
        fConnected.store(false, std::memory_order_release);
        if (fSocket >= 0) {
            close(fSocket);
            fSocket = -1;
        }
    }

    // Parameter changes go to the engine as events stamped with their sample position. Only parameters the host
    // has moved are sent (the others follow the engine's preset); all of them again after a reconnect.
    void pushEvents(uint64_t position)
    {
        const bool resend = fResend.exchange(false);
        uint64_t written = fHeader[DB_H_EVENTS_WRITTEN];
        const uint64_t read = __atomic_load_n(&fHeader[DB_H_EVENTS_READ], __ATOMIC_ACQUIRE);
        for (uint32_t i = 0; i < kDbParamCount; ++i) {
            const bool changed = fValues[i] != fSent[i];
            if (changed)
                fTouched[i] = true;
            if (!(changed || (resend && fTouched[i])))
                continue;
            if (written - read >= DB_EVENT_CAPACITY) {
                if (resend)
                    fResend = true;
                break;  // full: the rest goes next block
            }
            DbEvent& event = fEvents[written % DB_EVENT_CAPACITY];
            event.position = position;
            event.index = i;
            event.value = fValues[i];
            fSent[i] = fValues[i];
            ++written;
        }
        __atomic_store_n(&fHeader[DB_H_EVENTS_WRITTEN], written, __ATOMIC_RELEASE);
    }

    // ---- the engine connection (helper thread; the audio thread only reads atomics) ------------------------------
    void connectOnce()
    {
        std::lock_guard<std::mutex> lock(fSocketMutex);
        if (fSocket >= 0)
            return;
        char path[512];
        socketPath(path, sizeof(path));
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
        if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            close(fd);
            return;
        }
        timeval tv {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char line[512];
        std::snprintf(line, sizeof(line), "hello protocol=%d shm=%s rate=%u channels=2\n", DB_PROTOCOL_VERSION,
                      fShmName, unsigned(fRate));
        if (send(fd, line, std::strlen(line), MSG_NOSIGNAL) < 0) {
            close(fd);
            return;
        }
        size_t n = 0;
        while (n < sizeof(line) - 1) {
            const ssize_t got = recv(fd, line + n, 1, 0);
            if (got <= 0)
                break;
            if (line[n] == '\n')
                break;
            ++n;
        }
        line[n] = '\0';
        unsigned long latency = 0, margin = 0, session = 0;
        if (std::sscanf(line, "ok latency=%lu margin=%lu session=%lu", &latency, &margin, &session) != 3) {
            if (std::strncmp(line, "error", 5) == 0) {
                // Said once; no retry until the host activates the plugin again (a new engine, or a rebuilt plugin).
                std::fprintf(stderr, "dreambridge plugin: the engine refused this plugin: %s\n", line + 6);
                fRefused = true;
            }
            close(fd);
            return;
        }
        fSession = session;
        fMargin.store(margin, std::memory_order_release);
        fLatency.store(uint32_t(latency), std::memory_order_release);
        fResend = true;
        fSocket = fd;
        fConnected.store(true, std::memory_order_release);
    }

    void connectionLoop()
    {
        while (!fQuit.load()) {
            if (fSocket < 0) {
                if (!fRefused)
                    connectOnce();
                if (fSocket < 0) {
                    for (int i = 0; i < 5 && !fQuit.load(); ++i)
                        usleep(50000);
                    continue;
                }
            }
            pollfd p {fSocket, POLLIN, 0};
            const int ready = poll(&p, 1, 100);
            if (ready > 0) {
                char buf[256];
                const ssize_t got = recv(fSocket, buf, sizeof(buf), MSG_DONTWAIT);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    std::lock_guard<std::mutex> lock(fSocketMutex);
                    fConnected.store(false, std::memory_order_release);
                    close(fSocket);
                    fSocket = -1;
                }
            }
        }
    }

    void stopThread()
    {
        fQuit = true;
        if (fThread.joinable())
            fThread.join();
    }

    // shared memory
    char fShmName[64] = {};
    uint8_t* fMem = nullptr;
    size_t fMemSize = 0;
    uint64_t* fHeader = nullptr;
    DbEvent* fEvents = nullptr;
    float* fIn = nullptr;
    float* fOut = nullptr;

    // parameters
    float fValues[kDbParamCount];
    float fSent[kDbParamCount];
    bool fTouched[kDbParamCount];

    // audio-thread state
    double fRate = 0.0;
    uint64_t fPos = 0;
    uint32_t fReported = 0;
    float fWet = 0.0f;
    double fPace = 0.0;
    uint64_t fLastStart = 0, fLastWait = 0;
    uint32_t fLastFrames = 0;

    // connection state
    std::mutex fSocketMutex;
    int fSocket = -1;
    std::thread fThread;
    std::atomic<bool> fQuit{false};
    std::atomic<bool> fConnected{false};
    std::atomic<bool> fResend{false};
    bool fRefused = false;
    std::atomic<uint64_t> fSession{0};
    std::atomic<uint64_t> fMargin{0};
    std::atomic<uint32_t> fLatency{0};

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(DreamBridgePlugin)
};

Plugin* createPlugin()
{
    return new DreamBridgePlugin();
}

END_NAMESPACE_DISTRHO
