/* calls.c - where the floor goes: one FMI 2.0 Co-Simulation FMU's calls timed apart.
 *
 * bench/peers.py runs it after its table: S calls of fmi2SetReal alone, of fmi2GetReal alone
 * (nothing changed since the last evaluation), of fmi2DoStep alone, and of the three in turn
 * (what the floor loop does per instance-step), in ns per call.
 *
 *   calls <library.so> <guid> <resource URI> <vr in> <vr out> <S>
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void *(*Instantiate2)(const char *, int, const char *, const char *, const void *, int,
                              int);
typedef int (*Setup2)(void *, int, double, double, int, double);
typedef int (*Mode)(void *);
typedef int (*Real2)(void *, const uint32_t *, size_t, double *);
typedef int (*Step2)(void *, double, double, int);
typedef void (*Free)(void *);

typedef void *(*Instantiate3)(const char *, const char *, const char *, bool, bool, bool, bool,
                              const uint32_t *, size_t, void *, void *, void *);
typedef int (*Enter3)(void *, bool, double, double, bool, double);
typedef int (*Float3)(void *, const uint32_t *, size_t, double *, size_t);
typedef int (*Step3)(void *, double, double, bool, bool *, bool *, bool *, double *);

static void logger2(void *env, const char *name, int status, const char *cat, const char *m, ...) {
    (void)env; (void)name; (void)status; (void)cat; (void)m;
}
static void logger3(void *env, int status, const char *cat, const char *m) {
    (void)env; (void)status; (void)cat; (void)m;
}

typedef struct {
    void (*logger)(void *, const char *, int, const char *, const char *, ...);
    void *(*allocate)(size_t, size_t);
    void (*free)(void *);
    void *step_finished;
    void *env;
} Callbacks2;

static void *sym(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) { fprintf(stderr, "floor: %s not found\n", name); exit(2); }
    return f;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#define CHECK(x) do { if ((x) > 1) { fprintf(stderr, "floor: %s failed\n", #x); return 1; } } while (0)


int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const char *token = argv[2], *resources = argv[3];
    uint32_t vr_in = (uint32_t)atol(argv[4]), vr_out = (uint32_t)atol(argv[5]);
    long steps = atol(argv[6]);
    double h = 1e-3;
    static Callbacks2 cb = {logger2, calloc, free, NULL, NULL};
    Instantiate2 instantiate = (Instantiate2)sym(lib, "fmi2Instantiate");
    Setup2 setup = (Setup2)sym(lib, "fmi2SetupExperiment");
    Mode enter = (Mode)sym(lib, "fmi2EnterInitializationMode");
    Mode exit_ = (Mode)sym(lib, "fmi2ExitInitializationMode");
    Real2 set = (Real2)sym(lib, "fmi2SetReal"), get = (Real2)sym(lib, "fmi2GetReal");
    Step2 step = (Step2)sym(lib, "fmi2DoStep");
    void *c = instantiate("g", 1, token, resources, &cb, 0, 0);
    setup(c, 0, 0.0, 0.0, 1, steps * h); enter(c); exit_(c);
    double u = 1.0, y = 0.0, t = 0.0;
    double t0 = now();
    for (long k = 0; k < steps; k++) { u += 1e-9; set(c, &vr_in, 1, &u); }
    double t1 = now();
    for (long k = 0; k < steps; k++) { get(c, &vr_out, 1, &y); }
    double t2 = now();
    for (long k = 0; k < steps; k++, t = k * h) { step(c, t, h, 1); }
    double t3 = now();
    for (long k = 0; k < steps; k++, t = (steps + k) * h) { set(c, &vr_in, 1, &u); step(c, t, h, 1); get(c, &vr_out, 1, &y); }
    double t4 = now();
    printf("set %.1f ns, get (clean) %.1f ns, doStep (clean) %.1f ns, set+doStep+get %.1f ns\n",
           1e9 * (t1 - t0) / steps, 1e9 * (t2 - t1) / steps, 1e9 * (t3 - t2) / steps, 1e9 * (t4 - t3) / steps);
    return 0;
}
