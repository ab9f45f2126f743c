/* core.c - FMI-version-neutral instance logic: values, modes, checks, logging, fixed-step RK4. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* access flags generated into vars.h: A_INIT settable before/in initialization, A_STEP after */

__attribute__((weak)) void model_initialize(Instance *M) { (void)M; }

static void vlog(Instance *M, Status st, const char *category, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (M && M->sink) M->sink(M, st, category, buf);
}

void log_error(Instance *M, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(M, ST_ERROR, "logStatusError", fmt, ap);
    va_end(ap);
}

void log_info(Instance *M, const char *fmt, ...) {
    if (!M || !M->logging_on) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(M, ST_OK, "logEvents", fmt, ap);
    va_end(ap);
}

Instance *core_new(const char *name, bool is_cosim, LogSink sink, void *env, void *env2,
                   bool logging_on) {
    Instance *M = calloc(1, sizeof(Instance));
    if (!M) return NULL;
    M->name = strdup(name ? name : MODEL_NAME);
    M->is_cosim = is_cosim;
    M->sink = sink;
    M->env = env;
    M->env2 = env2;
    M->logging_on = logging_on;
    core_reset(M);
    return M;
}

void core_free(Instance *M) {
    if (!M) return;
    free(M->name);
    free(M);
}

void core_reset(Instance *M) {
    memset(&M->s, 0, sizeof M->s);
    set_start_values(&M->s);
    M->mode = MODE_INSTANTIATED;
    M->dirty = true;
}

Status core_check_mode(Instance *M, const char *function, int allowed) {
    if (!M) return ST_FATAL;
    if (allowed & (1 << M->mode)) return ST_OK;
    log_error(M, "%s must not be called in the current state (mode %d)", function, (int)M->mode);
    return ST_ERROR;
}

static Status check_finite(Instance *M) {
    for (int k = 1; k < N_REAL; k++) {
        if (!isfinite(M->s.real_[k])) {
            log_error(M, "variable %s is not finite (%g) at t=%g", REAL_NAMES[k], M->s.real_[k],
                      M->s.time);
            M->mode = MODE_ERROR;
            return ST_ERROR;
        }
    }
    return ST_OK;
}

Status core_eval(Instance *M) {
    if (!M->dirty) return ST_OK;
    model_eval(M);
    M->dirty = false;
    return check_finite(M);
}

Status core_exit_initialization(Instance *M) {
    if (!model_check(M)) {
        M->mode = MODE_ERROR;
        return ST_ERROR;
    }
    if (!M->s.initialized) {
        model_initialize(M);
        M->s.initialized = true;
    }
    M->dirty = true;
    return core_eval(M);
}

/* ---- value access ---------------------------------------------------------------------- */
static bool settable(Instance *M, unsigned char access) {
    if (M->mode == MODE_INSTANTIATED || M->mode == MODE_INITIALIZATION) return access & A_INIT;
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT) return access & A_STEP;
    return false;
}

static Status refuse(Instance *M, const char *name, unsigned vr) {
    log_error(M, "variable %s (value reference %u) cannot be set in the current state", name, vr);
    return ST_ERROR;
}

static Status unknown_vr(Instance *M, unsigned vr, const char *type) {
    log_error(M, "unknown %s value reference %u", type, vr);
    return ST_ERROR;
}

Status core_get_real(Instance *M, const unsigned vr[], size_t n, double out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N_REAL) return unknown_vr(M, vr[k], "Float64");
        out[k] = vr[k] == 0 ? M->s.time : M->s.real_[vr[k]];
    }
    return ST_OK;
}

Status core_set_real(Instance *M, const unsigned vr[], size_t n, const double in[]) {
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N_REAL) return unknown_vr(M, vr[k], "Float64");
        if (!settable(M, REAL_ACCESS[vr[k]])) return refuse(M, REAL_NAMES[vr[k]], vr[k]);
        M->s.real_[vr[k]] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

Status core_get_integer(Instance *M, const unsigned vr[], size_t n, int32_t out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_INTEGER_BASE;
        if (vr[k] < VR_INTEGER_BASE || j >= N_INTEGER) return unknown_vr(M, vr[k], "Int32");
        out[k] = M->s.int_[j];
    }
    return ST_OK;
}

Status core_set_integer(Instance *M, const unsigned vr[], size_t n, const int32_t in[]) {
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_INTEGER_BASE;
        if (vr[k] < VR_INTEGER_BASE || j >= N_INTEGER) return unknown_vr(M, vr[k], "Int32");
        if (!settable(M, INTEGER_ACCESS[j])) return refuse(M, INTEGER_NAMES[j], vr[k]);
        M->s.int_[j] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

Status core_get_boolean(Instance *M, const unsigned vr[], size_t n, bool out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_BOOLEAN_BASE;
        if (vr[k] < VR_BOOLEAN_BASE || j >= N_BOOLEAN) return unknown_vr(M, vr[k], "Boolean");
        out[k] = M->s.bool_[j];
    }
    return ST_OK;
}

Status core_set_boolean(Instance *M, const unsigned vr[], size_t n, const bool in[]) {
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_BOOLEAN_BASE;
        if (vr[k] < VR_BOOLEAN_BASE || j >= N_BOOLEAN) return unknown_vr(M, vr[k], "Boolean");
        if (!settable(M, BOOLEAN_ACCESS[j])) return refuse(M, BOOLEAN_NAMES[j], vr[k]);
        M->s.bool_[j] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

/* ---- continuous states ------------------------------------------------------------------ */
void core_get_states(Instance *M, double x[]) {
    for (int k = 0; k < N_STATES; k++) x[k] = M->s.real_[STATE_INDEX[k]];
}

void core_set_states(Instance *M, const double x[]) {
    for (int k = 0; k < N_STATES; k++) M->s.real_[STATE_INDEX[k]] = x[k];
    M->dirty = true;
}

Status core_get_derivatives(Instance *M, double dx[]) {
    Status st = core_eval(M);
    for (int k = 0; k < N_STATES; k++) dx[k] = M->s.real_[DER_INDEX[k]];
    return st;
}

/* ---- Co-Simulation: classical RK4 with sub-steps of at most MAX_STEP ---------------------- */
Status core_do_step(Instance *M, double t, double h) {
    if (!(h > 0)) {
        log_error(M, "communication step size must be > 0, got %g", h);
        return ST_ERROR;
    }
    if (fabs(t - M->s.time) > 1e-9 * (1.0 + fabs(t))) {
        log_error(M, "communication point %.17g does not match the FMU time %.17g", t, M->s.time);
        return ST_ERROR;
    }
    if (!model_check(M)) return ST_ERROR;
    if (check_finite(M) > ST_WARNING) return ST_ERROR;  /* e.g. a NaN input: refuse, log once */
    double nd = ceil(h / MAX_STEP - 1e-9);
    if (nd > 1e8) {
        log_error(M, "communication step %g s needs %.3g internal steps of at most %g s; "
                     "use a smaller communication step", h, nd, (double)MAX_STEP);
        return ST_ERROR;
    }
    int n = nd < 1 ? 1 : (int)nd;
    double dt = h / n;
    (void)dt;
#if N_STATES > 0
    double x0[N_STATES], k1[N_STATES], k2[N_STATES], k3[N_STATES], k4[N_STATES], xt[N_STATES];
    for (int j = 0; j < n; j++) {
        double tj = t + j * dt;
        core_get_states(M, x0);
        M->s.time = tj;
        M->dirty = true;
        if (core_get_derivatives(M, k1) > ST_WARNING) return ST_ERROR;
        for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k1[k];
        core_set_states(M, xt);
        M->s.time = tj + 0.5 * dt;
        if (core_get_derivatives(M, k2) > ST_WARNING) return ST_ERROR;
        for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k2[k];
        core_set_states(M, xt);
        if (core_get_derivatives(M, k3) > ST_WARNING) return ST_ERROR;
        for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + dt * k3[k];
        core_set_states(M, xt);
        M->s.time = tj + dt;
        if (core_get_derivatives(M, k4) > ST_WARNING) return ST_ERROR;
        for (int k = 0; k < N_STATES; k++)
            xt[k] = x0[k] + dt / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k]);
        core_set_states(M, xt);
    }
#endif
    M->s.time = t + h;
    M->dirty = true;
    Status st = core_eval(M);
    if (st > ST_WARNING) M->mode = MODE_ERROR;
    return st;
}

double interp1(const double *xs, const double *ys, int n, double x) {
    if (x <= xs[0]) return ys[0];
    if (x >= xs[n - 1]) return ys[n - 1];
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (xs[mid] <= x) lo = mid; else hi = mid;
    }
    double w = (x - xs[lo]) / (xs[hi] - xs[lo]);
    return ys[lo] + w * (ys[hi] - ys[lo]);
}
