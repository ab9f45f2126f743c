/* kernel.c - the compiled body of cosim's step loop: one phase of the flat plan, in C.
 *
 * Python (cosim/engine/native.py) builds the tables below from the plan and the bound FMI
 * calls fmpy already resolved (function pointers, instance pointers, value-reference and
 * value buffers). cosim_run() then runs many communication steps in one call: per step the
 * rows of input blocks (tables sampled by Python) into their slots, the communication point,
 * the step's phase (doStep timed on every `sample`-th step), the recorders' rows into their
 * preallocated blocks, and the FMI 3.0 terminateSimulation flags. It returns at the end of
 * the chunk Python asked for (which ends before the next event, the shortened last steps, the
 * end of an input block), when a recorder's block is full, when an FMU asks to terminate, and
 * at a call that is not OK. cosim_phase() runs one phase alone (the step-by-step path: live
 * inputs, pacing, observers that need every step). Both run the same operations in the same
 * order on the same buffers as the Python loop: the results are bit for bit the same.
 *
 * A stage is one instance's part of a phase: its connection transfers, its bound set calls,
 * its doStep, its bound get calls. cosim_phase() stops at the first call that does not
 * return OK (Warning included) and at a converted value that does not fit its integer type,
 * and says where: Python then handles it exactly as its own loop does and finishes the step.
 *
 * Build: gcc -std=c11 -O2 -fPIC -shared -ffp-contract=off (no fused multiply-add: a*b + c is
 * rounded twice, as numpy does).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

enum { OP_NOSTEP = 0, OP_VALUES2 = 1, OP_VALUES3 = 2, OP_STEP2 = 3, OP_STEP3 = 4 };
enum { T_F64, T_F32, T_I32, T_I64, T_I8, T_U8, T_I16, T_U16, T_U32, T_U64, T_B32, T_B8 };
enum { C_COPY = 0, C_LINEAR = 1, C_ROUND = 2, C_FLOOR = 3, C_CEIL = 4, C_TRUNCATE = 5, C_BOOL = 6 };
enum { WHERE_CONN = -2 };
enum { RUN_DONE = 0, RUN_STATUS = 1, RUN_FULL = 2, RUN_END = 3 };

typedef int (*Values2)(void *, const void *, size_t, void *);
typedef int (*Values3)(void *, const void *, size_t, void *, size_t);
typedef int (*Step2)(void *, double, double, int);
typedef int (*Step3)(void *, double, double, bool, bool *, bool *, bool *, double *);

/* doStep's arguments beyond the instance: cells Python owns (the communication point, this
   instance's step size, noSetFMUStatePriorToCurrentPoint) and FMI 3.0's out-arguments */
typedef struct {
    double *t;
    double *h;
    void *flag;  /* int (FMI 2.0) or bool (FMI 3.0) */
    bool *event, *terminate, *early;
    double *last;
} StepArgs;

/* one FMI call: 48 bytes, so that a thousand instances' tables stay in cache */
typedef struct {
    void *fn;
    void *instance;
    void *vr;        /* OP_VALUES*: value references; OP_STEP*: its StepArgs */
    void *values;    /* OP_VALUES*: the store slots */
    int32_t kind;
    int32_t nvr;
    int64_t nvalues;
} Op;

typedef struct {
    void *dst;
    void *src;
    int32_t dst_type, src_type, kind, pad;
    double gain, offset;
} Conn;

typedef struct {
    int32_t conn0, conn1;  /* connections [conn0, conn1) */
    int32_t set0, set1;    /* ops [set0, set1): bound set calls */
    int32_t step;          /* op: doStep */
    int32_t get0, get1;    /* ops [get0, get1): bound get calls */
    int32_t instance;      /* for the doStep timing samples */
} Stage;

/* values of one store: n slots of `size` bytes, copied to or from a [rows, n] block */
typedef struct {
    void *store;
    const int64_t *slots;
    int64_t n, size;
    void *block;
} Group;

/* a recorder's current block: a row after every step n with n % every == 0 */
typedef struct {
    int64_t every;
    int64_t rows, capacity;  /* rows taken (in/out), rows the block holds */
    int64_t last;            /* out: the step of the last row taken */
    double *time;
    const Group *groups;
    int64_t n_groups;
} Rec;

/* an input block: before step n (first <= n < first + rows), its row n - first into slots */
typedef struct {
    const Group *groups;
    int64_t n_groups;
    int64_t first, rows;
} Feed;

typedef struct {
    const Stage *stages;
    const Conn *conns;
    const Op *ops;
    const int64_t *phase;  /* every phase's stage indices: phase p at [start[p], start[p + 1]) */
    const int64_t *start;
    int64_t period;
    double *t;             /* the communication point cell the doStep calls read */
    int64_t step_ticks, ticks_per_second, sample;
    double *sampled;       /* per instance: doStep wall time (s) and calls on sampled steps */
    int64_t *sampled_calls;
    bool *const *end;      /* FMI 3.0 terminateSimulation out-arguments */
    int64_t n_end;
    Rec *recs;
    int64_t n_recs;
    const Feed *feeds;
    int64_t n_feeds;
    int64_t n, tick, n_stop;  /* in/out: step count and tick; steps run while n < n_stop */
    int64_t why;              /* out: RUN_DONE, RUN_STATUS, RUN_FULL or RUN_END */
    int64_t *where;           /* out (RUN_STATUS): as cosim_phase's */
    const volatile int64_t *stop; /* set by another thread (a stop request): return after the
                                     step under way, as if n_stop were reached */
} Run;

static double as_double(const void *p, int64_t t) {
    switch (t) {
    case T_F64: return *(const double *)p;
    case T_F32: return *(const float *)p;
    case T_I32: case T_B32: return *(const int32_t *)p;
    case T_I64: return (double)*(const int64_t *)p;
    case T_I8: return *(const int8_t *)p;
    case T_U8: return *(const uint8_t *)p;
    case T_I16: return *(const int16_t *)p;
    case T_U16: return *(const uint16_t *)p;
    case T_U32: return *(const uint32_t *)p;
    case T_U64: return (double)*(const uint64_t *)p;
    case T_B8: return *(const bool *)p;
    }
    return 0.0;
}

/* an integer (or boolean) source exactly; `neg` says the value is below zero */
static uint64_t as_bits(const void *p, int64_t t, bool *neg) {
    int64_t v;
    switch (t) {
    case T_U64: *neg = false; return *(const uint64_t *)p;
    case T_U32: *neg = false; return *(const uint32_t *)p;
    case T_U16: *neg = false; return *(const uint16_t *)p;
    case T_U8: *neg = false; return *(const uint8_t *)p;
    case T_B8: *neg = false; return *(const bool *)p;
    case T_I64: v = *(const int64_t *)p; break;
    case T_I32: case T_B32: v = *(const int32_t *)p; break;
    case T_I16: v = *(const int16_t *)p; break;
    case T_I8: v = *(const int8_t *)p; break;
    default: *neg = false; return 0;
    }
    *neg = v < 0;
    return (uint64_t)v;
}

static bool fits(uint64_t bits, bool neg, int64_t t) {
    int64_t v = (int64_t)bits;
    switch (t) {
    case T_I64: return neg || bits <= (uint64_t)INT64_MAX;
    case T_U64: return !neg;
    case T_I32: return neg ? v >= INT32_MIN : bits <= INT32_MAX;
    case T_U32: return !neg && bits <= UINT32_MAX;
    case T_I16: return neg ? v >= INT16_MIN : bits <= INT16_MAX;
    case T_U16: return !neg && bits <= UINT16_MAX;
    case T_I8: return neg ? v >= INT8_MIN : bits <= INT8_MAX;
    case T_U8: return !neg && bits <= UINT8_MAX;
    }
    return true;
}

static void put_bits(void *p, int64_t t, uint64_t bits) {
    switch (t) {
    case T_I64: case T_U64: *(uint64_t *)p = bits; break;
    case T_I32: *(int32_t *)p = (int32_t)bits; break;
    case T_U32: *(uint32_t *)p = (uint32_t)bits; break;
    case T_I16: *(int16_t *)p = (int16_t)bits; break;
    case T_U16: *(uint16_t *)p = (uint16_t)bits; break;
    case T_I8: *(int8_t *)p = (int8_t)bits; break;
    case T_U8: *(uint8_t *)p = (uint8_t)bits; break;
    }
}

static bool is_float(int64_t t) { return t == T_F64 || t == T_F32; }
static bool is_bool(int64_t t) { return t == T_B32 || t == T_B8; }

static void put_double(void *p, int64_t t, double x) {
    if (t == T_F64) *(double *)p = x;
    else *(float *)p = (float)x;
}

static void put_bool(void *p, int64_t t, bool b) {
    if (t == T_B32) *(int32_t *)p = b;
    else *(bool *)p = b;
}

/* dst := the connection's value; false where an integer target cannot hold it (Python then
   raises its own OverflowError for the same value) */
static const size_t SIZES[] = {8, 4, 4, 8, 1, 1, 2, 2, 4, 8, 4, 1};

static bool transfer(const Conn *c) {
    if (c->kind == C_COPY) {
        if (c->dst_type == c->src_type) {  /* the same type: the value as it is, bit for bit */
            memcpy(c->dst, c->src, SIZES[c->dst_type]);
        } else if (is_float(c->dst_type)) {
            put_double(c->dst, c->dst_type, as_double(c->src, c->src_type));
        } else if (is_bool(c->dst_type)) {
            bool neg;
            put_bool(c->dst, c->dst_type, as_bits(c->src, c->src_type, &neg) != 0);
        } else {
            bool neg;
            uint64_t bits = as_bits(c->src, c->src_type, &neg);
            if (!fits(bits, neg, c->dst_type)) return false;
            put_bits(c->dst, c->dst_type, bits);
        }
        return true;
    }
    double x = c->gain * as_double(c->src, c->src_type);
    x = x + c->offset;
    if (c->kind == C_LINEAR) {
        put_double(c->dst, c->dst_type, x);
        return true;
    }
    if (c->kind == C_BOOL) {
        put_bool(c->dst, c->dst_type, x != 0.0);
        return true;
    }
    double r;
    switch (c->kind) {
    case C_ROUND: r = x >= 0 ? floor(x + 0.5) : -floor(-x + 0.5); break;
    case C_FLOOR: r = floor(x); break;
    case C_CEIL: r = ceil(x); break;
    default: r = trunc(x); break;
    }
    if (!isfinite(r) || r < -9223372036854775808.0 || r >= 18446744073709551616.0) return false;
    bool neg = r < 0;
    uint64_t bits = neg ? (uint64_t)(int64_t)r : (uint64_t)r;
    if (neg && r < -9223372036854775808.0) return false;
    if (!fits(bits, neg, c->dst_type)) return false;
    put_bits(c->dst, c->dst_type, bits);
    return true;
}

/* the FMI call the thread is in and how many it has begun, for the watchdog thread
   (cosim.engine.watchdog) to see a call that does not return: written around every call */
typedef struct {
    const Op *volatile op;
    volatile int64_t calls;
} Progress;
static _Thread_local Progress progress;

/* this thread's Progress (the step thread asks once; the watchdog reads it) */
Progress *cosim_progress(void) { return &progress; }

static int call_fmi(const Op *op);

static int call(const Op *op) {
    progress.op = op;
    progress.calls++;
    int st = call_fmi(op);
    progress.op = NULL;
    return st;
}

static int call_fmi(const Op *op) {
    const StepArgs *a;
    switch (op->kind) {
    case OP_VALUES2:
        return ((Values2)op->fn)(op->instance, op->vr, (size_t)op->nvr, op->values);
    case OP_VALUES3:
        return ((Values3)op->fn)(op->instance, op->vr, (size_t)op->nvr, op->values,
                                 (size_t)op->nvalues);
    case OP_STEP2:
        a = op->vr;
        return ((Step2)op->fn)(op->instance, *a->t, *a->h, *(int *)a->flag);
    case OP_STEP3:
        a = op->vr;
        return ((Step3)op->fn)(op->instance, *a->t, *a->h, *(bool *)a->flag, a->event,
                               a->terminate, a->early, a->last);
    }
    return 0; /* OP_NOSTEP: a publish-only stage */
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the stages phase[0 .. count - 1]; doStep timed into sampled/calls when `sampled` is set */
static int64_t phase_run(const Stage *stages, const Conn *conns, const Op *ops,
                         const int64_t *phase, int64_t count, int64_t *where, double *sampled,
                         int64_t *calls) {
    for (int64_t k = 0; k < count; k++) {
        const Stage *s = &stages[phase[k]];
        for (int64_t j = s->conn0; j < s->conn1; j++) {
            if (!transfer(&conns[j])) {
                where[0] = k;
                where[1] = WHERE_CONN;
                return -1;
            }
        }
        for (int64_t j = s->set0; j < s->set1; j++) {
            int st = call(&ops[j]);
            if (st) { where[0] = k; where[1] = j; return st; }
        }
        int st;
        if (sampled && ops[s->step].kind != OP_NOSTEP) {
            double t0 = now();
            st = call(&ops[s->step]);
            sampled[s->instance] += now() - t0;
            calls[s->instance] += 1;
        } else {
            st = call(&ops[s->step]);
        }
        if (st) { where[0] = k; where[1] = s->step; return st; }
        for (int64_t j = s->get0; j < s->get1; j++) {
            st = call(&ops[j]);
            if (st) { where[0] = k; where[1] = j; return st; }
        }
    }
    return 0;
}

/* Run stages[phase[0] .. phase[count - 1]] (the stage indices of one phase). Returns 0,
   or the first status that is not OK: then where[0] is the position in the phase of the
   stage and where[1] the op that returned it, or WHERE_CONN for a value that did not fit. */
int64_t cosim_phase(const Stage *stages, const Conn *conns, const Op *ops,
                    const int64_t *phase, int64_t count, int64_t *where) {
    return phase_run(stages, conns, ops, phase, count, where, NULL, NULL);
}

/* cosim_phase with every doStep timed into sampled/calls (the timing-sample steps) */
int64_t cosim_phase_timed(const Stage *stages, const Conn *conns, const Op *ops,
                          const int64_t *phase, int64_t count, int64_t *where, double *sampled,
                          int64_t *calls) {
    return phase_run(stages, conns, ops, phase, count, where, sampled, calls);
}

static void copy_rows(const Group *groups, int64_t n_groups, int64_t row, bool to_block) {
    for (int64_t g = 0; g < n_groups; g++) {
        const Group *G = &groups[g];
        char *block = (char *)G->block + row * G->n * G->size;
        char *store = (char *)G->store;
        for (int64_t c = 0; c < G->n; c++) {
            char *slot = store + G->slots[c] * G->size;
            if (to_block) memcpy(block + c * G->size, slot, (size_t)G->size);
            else memcpy(slot, block + c * G->size, (size_t)G->size);
        }
    }
}

/* Communication steps r->n .. r->n_stop - 1 (see the top of this file). Returns 0, or the
   status of a call that is not OK (r->why = RUN_STATUS): r->n and r->tick are then the step
   it stopped in, whose phase Python finishes. */
int64_t cosim_run(Run *r) {
    int64_t n = r->n, tick = r->tick;
    const double tps = (double)r->ticks_per_second;
    r->why = RUN_DONE;
    for (int64_t k = 0; k < r->n_recs; k++) {
        if (r->recs[k].rows >= r->recs[k].capacity) { r->why = RUN_FULL; return 0; }
    }
    while (n < r->n_stop) {
        if (r->stop && *r->stop && n > r->n) break;
        for (int64_t f = 0; f < r->n_feeds; f++) {
            const Feed *F = &r->feeds[f];
            copy_rows(F->groups, F->n_groups, n - F->first, false);
        }
        *r->t = (double)tick / tps;
        const int64_t p = n % r->period;
        const bool timed = n % r->sample == 0;
        int64_t st = phase_run(r->stages, r->conns, r->ops, r->phase + r->start[p],
                               r->start[p + 1] - r->start[p], r->where,
                               timed ? r->sampled : NULL, r->sampled_calls);
        if (st) {
            r->n = n;
            r->tick = tick;
            r->why = RUN_STATUS;
            return st;
        }
        n += 1;
        tick += r->step_ticks;
        for (int64_t k = 0; k < r->n_recs; k++) {
            Rec *R = &r->recs[k];
            if (n % R->every) continue;
            R->time[R->rows] = (double)tick / tps;
            copy_rows(R->groups, R->n_groups, R->rows, true);
            R->rows += 1;
            R->last = n;
            if (R->rows == R->capacity) r->why = RUN_FULL;
        }
        for (int64_t k = 0; k < r->n_end; k++) {
            if (*r->end[k]) r->why = RUN_END;
        }
        if (r->why) break;
    }
    r->n = n;
    r->tick = tick;
    return 0;
}
