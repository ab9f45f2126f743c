/* floor.c - the hand-written C master loop that bench/peers.py measures cosim against.
 *
 * It loads one Co-Simulation FMU binary (FMI 2.0 or 3.0), instantiates N instances, chains
 * them (instance 0 gets a constant input, instance i gets instance i-1's output, in order:
 * transfer, set, doStep, get per instance, as a Gauss-Seidel master does) and runs S
 * communication steps of size H. It prints the stepping time per instance-step in
 * microseconds (setup and teardown excluded): nothing but the FMU's own work and the calls.
 *
 *   floor <2|3> <library.so> <guid|token> <resource URI> <vr in> <vr out> <N> <S> <H>
 *
 * `floor calls <library.so> <guid> <resource URI> <vr in> <vr out> <S>` instead times one
 * FMI 2.0 instance's calls apart: S calls of fmi2SetReal alone, of fmi2GetReal alone
 * (nothing changed since the last evaluation), of fmi2DoStep alone, and of the three in turn,
 * in ns per call: where the floor's time goes.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* the FMI 2.0 functions the floor calls */
typedef struct {
    Instantiate2 instantiate;
    Setup2 setup;
    Mode enter, exit_, terminate;
    Real2 set, get;
    Step2 step;
    Free free_;
} Fmi2;

static Fmi2 load2(void *lib) {
    Fmi2 f = {
        (Instantiate2)sym(lib, "fmi2Instantiate"), (Setup2)sym(lib, "fmi2SetupExperiment"),
        (Mode)sym(lib, "fmi2EnterInitializationMode"), (Mode)sym(lib, "fmi2ExitInitializationMode"),
        (Mode)sym(lib, "fmi2Terminate"), (Real2)sym(lib, "fmi2SetReal"),
        (Real2)sym(lib, "fmi2GetReal"), (Step2)sym(lib, "fmi2DoStep"),
        (Free)sym(lib, "fmi2FreeInstance"),
    };
    return f;
}

#define CHECK(x) do { if ((x) > 1) { fprintf(stderr, "floor: %s failed\n", #x); return 1; } } while (0)

/* `floor calls ...`: one FMI 2.0 instance's set, get, doStep timed apart (bench/peers.py) */
static int calls(char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const char *token = argv[2], *resources = argv[3];
    uint32_t vr_in = (uint32_t)atol(argv[4]), vr_out = (uint32_t)atol(argv[5]);
    long steps = atol(argv[6]);
    double h = 1e-3;
    static Callbacks2 cb = {logger2, calloc, free, NULL, NULL};
    const Fmi2 f = load2(lib);
    void *c = f.instantiate("g", 1, token, resources, &cb, 0, 0);
    f.setup(c, 0, 0.0, 0.0, 1, steps * h); f.enter(c); f.exit_(c);
    double u = 1.0, y = 0.0, t = 0.0;
    double t0 = now();
    for (long k = 0; k < steps; k++) { u += 1e-9; f.set(c, &vr_in, 1, &u); }
    double t1 = now();
    for (long k = 0; k < steps; k++) { f.get(c, &vr_out, 1, &y); }
    double t2 = now();
    for (long k = 0; k < steps; k++, t = k * h) { f.step(c, t, h, 1); }
    double t3 = now();
    for (long k = 0; k < steps; k++, t = (steps + k) * h) { f.set(c, &vr_in, 1, &u); f.step(c, t, h, 1); f.get(c, &vr_out, 1, &y); }
    double t4 = now();
    printf("set %.1f ns, get (clean) %.1f ns, doStep (clean) %.1f ns, set+doStep+get %.1f ns\n",
           1e9 * (t1 - t0) / steps, 1e9 * (t2 - t1) / steps, 1e9 * (t3 - t2) / steps, 1e9 * (t4 - t3) / steps);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && strcmp(argv[1], "calls") == 0) return calls(argv + 1);
    if (argc != 10) { fprintf(stderr, "usage: see floor.c\n"); return 2; }
    int fmi = atoi(argv[1]);
    void *lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "floor: %s\n", dlerror()); return 2; }
    const char *token = argv[3], *resources = argv[4];
    uint32_t vr_in = (uint32_t)atol(argv[5]), vr_out = (uint32_t)atol(argv[6]);
    long n = atol(argv[7]), steps = atol(argv[8]);
    double h = atof(argv[9]);
    void **inst = calloc((size_t)n, sizeof(void *));
    double *y = calloc((size_t)n, sizeof(double));
    char name[32];
    double t = 0.0, elapsed;
    if (fmi == 2) {
        static Callbacks2 cb = {logger2, calloc, free, NULL, NULL};
        const Fmi2 f = load2(lib);
        for (long i = 0; i < n; i++) {
            snprintf(name, sizeof name, "g%ld", i);
            inst[i] = f.instantiate(name, 1, token, resources, &cb, 0, 0);
            if (!inst[i]) { fprintf(stderr, "floor: instantiate failed\n"); return 1; }
            CHECK(f.setup(inst[i], 0, 0.0, 0.0, 1, steps * h));
            CHECK(f.enter(inst[i]));
            CHECK(f.exit_(inst[i]));
        }
        double one = 1.0;
        double t0 = now();
        for (long k = 0; k < steps; k++, t = k * h) {
            for (long i = 0; i < n; i++) {
                CHECK(f.set(inst[i], &vr_in, 1, i ? &y[i - 1] : &one));
                CHECK(f.step(inst[i], t, h, 1));
                CHECK(f.get(inst[i], &vr_out, 1, &y[i]));
            }
        }
        elapsed = now() - t0;
        for (long i = 0; i < n; i++) { f.terminate(inst[i]); f.free_(inst[i]); }
    } else {
        Instantiate3 instantiate = (Instantiate3)sym(lib, "fmi3InstantiateCoSimulation");
        Enter3 enter = (Enter3)sym(lib, "fmi3EnterInitializationMode");
        Mode exit_ = (Mode)sym(lib, "fmi3ExitInitializationMode");
        Float3 set = (Float3)sym(lib, "fmi3SetFloat64"), get = (Float3)sym(lib, "fmi3GetFloat64");
        Step3 step = (Step3)sym(lib, "fmi3DoStep");
        Mode terminate = (Mode)sym(lib, "fmi3Terminate");
        Free free_ = (Free)sym(lib, "fmi3FreeInstance");
        for (long i = 0; i < n; i++) {
            snprintf(name, sizeof name, "g%ld", i);
            inst[i] = instantiate(name, token, resources, false, false, false, false, NULL, 0,
                                  NULL, (void *)logger3, NULL);
            if (!inst[i]) { fprintf(stderr, "floor: instantiate failed\n"); return 1; }
            CHECK(enter(inst[i], false, 0.0, 0.0, true, steps * h));
            CHECK(exit_(inst[i]));
        }
        double one = 1.0, last;
        bool event, stop, early;
        double t0 = now();
        for (long k = 0; k < steps; k++, t = k * h) {
            for (long i = 0; i < n; i++) {
                CHECK(set(inst[i], &vr_in, 1, i ? &y[i - 1] : &one, 1));
                CHECK(step(inst[i], t, h, true, &event, &stop, &early, &last));
                CHECK(get(inst[i], &vr_out, 1, &y[i], 1));
            }
        }
        elapsed = now() - t0;
        for (long i = 0; i < n; i++) { terminate(inst[i]); free_(inst[i]); }
    }
    printf("%.6f %.17g\n", 1e6 * elapsed / ((double)n * steps), y[n - 1]);
    return 0;
}
